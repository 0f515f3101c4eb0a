package settingsclient

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// scheme knows only the settings kinds and the meta.k8s.io options, so a
// client never depends on what else is registered in the process.
var (
	scheme         = runtime.NewScheme()
	codecs         = serializer.NewCodecFactory(scheme)
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func init() {
	if err := settingsv1alpha1.AddToScheme(scheme); err != nil {
		panic(fmt.Sprintf("settingsclient: register kinds: %v", err)) // programming error
	}
}

// Client talks to settings.k8s.io/v1alpha1.
type Client struct {
	rest rest.Interface
}

// PodPresetInterface reads and writes the PodPresets of one namespace.
type PodPresetInterface = *gentype.ClientWithList[*settingsv1alpha1.PodPreset, *settingsv1alpha1.PodPresetList]

// NewForConfig returns a client for cfg (host, credentials, rate limits).
func NewForConfig(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	gv := settingsv1alpha1.SchemeGroupVersion
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("settings.k8s.io client: %w", err)
	}
	return &Client{rest: rc}, nil
}

// PodPresets returns a client for the PodPresets of namespace ("" = all
// namespaces, for list and watch).
func (c *Client) PodPresets(namespace string) PodPresetInterface {
	return gentype.NewClientWithList[*settingsv1alpha1.PodPreset, *settingsv1alpha1.PodPresetList](
		"podpresets", c.rest, parameterCodec, namespace,
		func() *settingsv1alpha1.PodPreset { return &settingsv1alpha1.PodPreset{} },
		func() *settingsv1alpha1.PodPresetList { return &settingsv1alpha1.PodPresetList{} },
	)
}
