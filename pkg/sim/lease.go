package sim

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// renewLease moves n's Lease renewTime to now: one write from the Lease
// last written, a read and a write when that is stale, a create when the
// Lease is missing. n.mu is held.
func (s *Sim) renewLease(ctx context.Context, n *simNode) error {
	leases := s.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	cur := n.lease
	for attempt := 0; ; attempt++ {
		if cur == nil {
			var err error
			cur, err = leases.Get(ctx, n.name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				cur, err = leases.Create(ctx, s.leaseObject(n), metav1.CreateOptions{FieldManager: fieldManager})
				if err == nil {
					n.lease = cur
					return nil
				}
			}
			if err != nil {
				return fmt.Errorf("lease %s: %w", n.name, err)
			}
		}
		next := cur.DeepCopy()
		next.Spec.HolderIdentity = ptr.To(n.name)
		next.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDurationSeconds))
		next.Spec.RenewTime = ptr.To(metav1.NowMicro())
		if len(next.OwnerReferences) == 0 && n.node != nil {
			next.OwnerReferences = nodeOwner(n.node)
		}
		got, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
		if err == nil {
			n.lease = got
			return nil
		}
		n.lease, cur = nil, nil
		if attempt > 0 || !(apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
			return fmt.Errorf("renew lease %s: %w", n.name, err)
		}
	}
}

func (s *Sim) leaseObject(n *simNode) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(n.name),
			LeaseDurationSeconds: ptr.To(int32(leaseDurationSeconds)),
			RenewTime:            ptr.To(metav1.NowMicro()),
		},
	}
	if n.node != nil {
		l.OwnerReferences = nodeOwner(n.node)
	}
	return l
}

// nodeOwner makes a Lease go with its Node, as the kubelet's do.
func nodeOwner(node *corev1.Node) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
}
