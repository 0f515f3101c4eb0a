package defaults

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

func TestAPIDefaults(t *testing.T) {
	d := &storagev1.CSIDriver{}
	Apply(d)
	want := storagev1.CSIDriverSpec{AttachRequired: ptr.To(true), PodInfoOnMount: ptr.To(false), StorageCapacity: ptr.To(false),
		FSGroupPolicy: ptr.To(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy), VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent},
		RequiresRepublish: ptr.To(false), SELinuxMount: ptr.To(false)}
	if !equality.Semantic.DeepEqual(d.Spec, want) {
		t.Errorf("CSIDriver: got %+v", d.Spec)
	}

	ic := &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: &networkingv1.IngressClassParametersReference{Kind: "K", Name: "n"}}}
	Apply(ic)
	if s := ic.Spec.Parameters.Scope; s == nil || *s != "Cluster" {
		t.Errorf("IngressClass parameters scope: %v", s)
	}

	fs := &flowcontrolv1.FlowSchema{}
	Apply(fs)
	if fs.Spec.MatchingPrecedence != 1000 {
		t.Errorf("FlowSchema matchingPrecedence: %d", fs.Spec.MatchingPrecedence)
	}

	pl := &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
		LimitResponse: flowcontrolv1.LimitResponse{Queuing: &flowcontrolv1.QueuingConfiguration{}}}}}
	Apply(pl)
	l := pl.Spec.Limited
	if *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 || *l.LimitResponse.Queuing != (flowcontrolv1.QueuingConfiguration{Queues: 64, HandSize: 8, QueueLengthLimit: 50}) {
		t.Errorf("PriorityLevelConfiguration limited: %+v %+v", l, l.LimitResponse.Queuing)
	}
	// An explicit zero share count stays (v1 allows levels without seats).
	zero := &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To(int32(0))}}}
	Apply(zero)
	if *zero.Spec.Limited.NominalConcurrencyShares != 0 {
		t.Error("explicit zero shares were defaulted")
	}
	ex := &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{}}}
	Apply(ex)
	if *ex.Spec.Exempt.NominalConcurrencyShares != 0 || *ex.Spec.Exempt.LendablePercent != 0 {
		t.Errorf("exempt: %+v", ex.Spec.Exempt)
	}
}
