package agent

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// apiObjects reads the ConfigMaps and Secrets pods refer to (env,
// volumes, image pull secrets) from the API; the agent's parts take it as
// their source of those objects.
type apiObjects struct{ cs kubernetes.Interface }

// ConfigMapData reads a ConfigMap's data and binaryData as bytes. A
// missing ConfigMap marked optional reads as (nil, false, nil); found
// tells it from an existing, empty one.
func (o apiObjects) ConfigMapData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error) {
	cm, err := o.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, false, missing(err, optional, fmt.Errorf("configmap %q not found", name))
	}
	data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, true, nil
}

// SecretData reads a Secret's data, with ConfigMapData's rules.
func (o apiObjects) SecretData(ctx context.Context, ns, name string, optional *bool) (map[string][]byte, bool, error) {
	s, err := o.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, false, missing(err, optional, fmt.Errorf("secret %q not found", name))
	}
	return s.Data, true, nil
}

// missing turns a failed read into nil for an optional object that is not
// there, and into notFound otherwise.
func missing(err error, optional *bool, notFound error) error {
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	return notFound
}
