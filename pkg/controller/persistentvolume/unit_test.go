package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func pv(name, class, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"size": size}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: class, AccessModes: modes,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		},
	}
}

func claim(class *string, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "claim-uid"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class, AccessModes: modes,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func TestFindBestMatch(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n-0", Labels: map[string]string{corev1.LabelHostname: "n-0", "zone": "a"}}}
	affinity := func(p *corev1.PersistentVolume, op corev1.NodeSelectorOperator, key string, values ...string) *corev1.PersistentVolume {
		p.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}},
		}}}}
		return p
	}
	prebound := func(p *corev1.PersistentVolume, uid string) *corev1.PersistentVolume {
		p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data", UID: "claim-uid"}
		if uid != "" {
			p.Spec.ClaimRef.UID = "other"
		}
		return p
	}
	released := func(p *corev1.PersistentVolume) *corev1.PersistentVolume {
		p.Status.Phase = corev1.VolumeReleased
		return p
	}
	withSelector := func(c *corev1.PersistentVolumeClaim, size string) *corev1.PersistentVolumeClaim {
		c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"size": size}}
		return c
	}
	withVolumeName := func(c *corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
		c.Spec.VolumeName = name
		return c
	}
	rwx := corev1.ReadWriteMany
	for _, tc := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pvs   []*corev1.PersistentVolume
		node  *corev1.Node
		want  string
	}{
		{"smallest fitting", claim(ptr.To("fast"), "1Gi"), []*corev1.PersistentVolume{pv("big", "fast", "10Gi"), pv("small", "fast", "2Gi"), pv("tiny", "fast", "500Mi")}, nil, "small"},
		{"exact size", claim(ptr.To("fast"), "1Gi"), []*corev1.PersistentVolume{pv("big", "fast", "10Gi"), pv("exact", "fast", "1Gi")}, nil, "exact"},
		{"class must be equal", claim(ptr.To("fast"), "1Gi"), []*corev1.PersistentVolume{pv("slow", "slow", "1Gi"), pv("none", "", "1Gi")}, nil, ""},
		{"empty class binds classless only", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{pv("slow", "slow", "1Gi"), pv("none", "", "5Gi")}, nil, "none"},
		{"nil class like empty", claim(nil, "1Gi"), []*corev1.PersistentVolume{pv("none", "", "5Gi")}, nil, "none"},
		{"access modes contained", claim(ptr.To(""), "1Gi", rwx), []*corev1.PersistentVolume{pv("rwo", "", "1Gi"), pv("rwx", "", "2Gi", corev1.ReadWriteOnce, rwx)}, nil, "rwx"},
		{"selector", withSelector(claim(ptr.To(""), "1Gi"), "5Gi"), []*corev1.PersistentVolume{pv("a", "", "2Gi"), pv("b", "", "5Gi")}, nil, "b"},
		{"volumeName pre-binding", withVolumeName(claim(ptr.To(""), "1Gi"), "b"), []*corev1.PersistentVolume{pv("a", "", "2Gi"), pv("b", "", "5Gi")}, nil, "b"},
		{"pre-bound volume wins", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{pv("a", "", "1Gi"), prebound(pv("b", "", "5Gi"), "")}, nil, "b"},
		{"volume bound elsewhere", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{prebound(pv("b", "", "5Gi"), "other")}, nil, ""},
		{"released skipped", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{released(pv("b", "", "5Gi"))}, nil, ""},
		{"node affinity accepts", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{affinity(pv("a", "", "1Gi"), corev1.NodeSelectorOpIn, corev1.LabelHostname, "n-1"), affinity(pv("b", "", "2Gi"), corev1.NodeSelectorOpIn, corev1.LabelHostname, "n-0")}, node, "b"},
		{"node affinity ignored without node", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{affinity(pv("a", "", "1Gi"), corev1.NodeSelectorOpIn, corev1.LabelHostname, "n-1")}, nil, "a"},
		{"node affinity NotIn", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{affinity(pv("a", "", "1Gi"), corev1.NodeSelectorOpNotIn, "zone", "a")}, node, ""},
		{"node affinity Exists", claim(ptr.To(""), "1Gi"), []*corev1.PersistentVolume{affinity(pv("a", "", "1Gi"), corev1.NodeSelectorOpExists, "zone")}, node, "a"},
	} {
		got := findBestMatch(tc.claim, tc.pvs, tc.node)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, name, tc.want)
		}
	}
}

func TestNewLocalVolume(t *testing.T) {
	c := claim(ptr.To(LocalPathClass), "3Gi")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n-1", Labels: map[string]string{corev1.LabelHostname: "host-1"}}}
	v := newLocalVolume(c, LocalPathStorageClass(), node, "/base")
	if v.Name != "pvc-claim-uid" || v.Spec.HostPath.Path != "/base/ns_data_pvc-claim-uid" || *v.Spec.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("volume %s at %+v", v.Name, v.Spec.HostPath)
	}
	if v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || v.Spec.StorageClassName != LocalPathClass ||
		!v.Spec.Capacity.Storage().Equal(resource.MustParse("3Gi")) || v.Annotations[AnnProvisionedBy] != Provisioner {
		t.Errorf("spec %+v annotations %v", v.Spec, v.Annotations)
	}
	if !nodeAffinityAccepts(v.Spec.NodeAffinity, node) || nodeAffinityAccepts(v.Spec.NodeAffinity, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n-2"}}) {
		t.Error("node affinity")
	}
	if !satisfies(c, v, node) || v.Spec.ClaimRef.UID != "claim-uid" {
		t.Error("provisioned volume does not satisfy its claim")
	}
}

func TestRemoveLocalStaysUnderBase(t *testing.T) {
	c := &Controller{cfg: Config{BaseDir: t.TempDir()}}
	for _, p := range []string{"/etc", c.cfg.BaseDir, c.cfg.BaseDir + "/../x"} {
		if err := c.removeLocal(t.Context(), "", p); err == nil {
			t.Errorf("removed %s", p)
		}
	}
	if err := c.removeLocal(t.Context(), "", c.cfg.BaseDir+"/ns_a_pvc-1"); err != nil {
		t.Error(err)
	}
}
