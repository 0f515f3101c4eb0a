package v1alpha1

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
)

// Protobuf encoding by hand, with upstream 1.19's field numbers (see the
// protobuf struct tags), so the API server can store PodPresets in etcd
// in the Kubernetes protobuf envelope as it stores every other kind, and
// serve them to clients that ask for application/vnd.kubernetes.protobuf.
// The nested k8s.io/api and apimachinery messages marshal themselves.
//
// Like the generated code, embedded messages (metadata, spec, selector)
// are always written, even when empty, and fields this version does not
// know are skipped on reading.

// message is what the nested generated types implement.
type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func appendMessage(b []byte, num protowire.Number, m message) ([]byte, error) {
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, data), nil
}

func appendEach[T any, P interface {
	*T
	message
}](b []byte, num protowire.Number, items []T) ([]byte, error) {
	var err error
	for i := range items {
		if b, err = appendMessage(b, num, P(&items[i])); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readFields calls field for each length-delimited field of data (field
// ignores numbers it does not know); fields of other wire types, which
// none of ours are, are skipped.
func readFields(kind string, data []byte, field func(num protowire.Number, value []byte) error) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%s: %w", kind, protowire.ParseError(n))
		}
		data = data[n:]
		if typ == protowire.BytesType {
			value, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return fmt.Errorf("%s: field %d: %w", kind, num, protowire.ParseError(m))
			}
			if err := field(num, value); err != nil {
				return fmt.Errorf("%s: field %d: %w", kind, num, err)
			}
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return fmt.Errorf("%s: field %d: %w", kind, num, protowire.ParseError(m))
		}
		data = data[m:]
	}
	return nil
}

// appendItem decodes value as one more element of *items.
func appendItem[T any, P interface {
	*T
	message
}](items *[]T, value []byte) error {
	var item T
	if err := P(&item).Unmarshal(value); err != nil {
		return err
	}
	*items = append(*items, item)
	return nil
}

// Marshal encodes p as a protobuf message.
func (p *PodPreset) Marshal() ([]byte, error) {
	b, err := appendMessage(nil, 1, &p.ObjectMeta)
	if err != nil {
		return nil, err
	}
	return appendMessage(b, 2, &p.Spec)
}

// Unmarshal decodes a protobuf message into p, merging as protobuf does.
func (p *PodPreset) Unmarshal(data []byte) error {
	return readFields("PodPreset", data, func(num protowire.Number, value []byte) error {
		switch num {
		case 1:
			return p.ObjectMeta.Unmarshal(value)
		case 2:
			return p.Spec.Unmarshal(value)
		}
		return nil
	})
}

// Reset clears p, as protobuf decoding expects.
func (p *PodPreset) Reset() { *p = PodPreset{} }

// Marshal encodes s as a protobuf message.
func (s *PodPresetSpec) Marshal() ([]byte, error) {
	b, err := appendMessage(nil, 1, &s.Selector)
	if err != nil {
		return nil, err
	}
	if b, err = appendEach(b, 2, s.Env); err != nil {
		return nil, err
	}
	if b, err = appendEach(b, 3, s.EnvFrom); err != nil {
		return nil, err
	}
	if b, err = appendEach(b, 4, s.Volumes); err != nil {
		return nil, err
	}
	return appendEach(b, 5, s.VolumeMounts)
}

// Unmarshal decodes a protobuf message into s.
func (s *PodPresetSpec) Unmarshal(data []byte) error {
	return readFields("PodPresetSpec", data, func(num protowire.Number, value []byte) error {
		switch num {
		case 1:
			return s.Selector.Unmarshal(value)
		case 2:
			return appendItem[corev1.EnvVar](&s.Env, value)
		case 3:
			return appendItem[corev1.EnvFromSource](&s.EnvFrom, value)
		case 4:
			return appendItem[corev1.Volume](&s.Volumes, value)
		case 5:
			return appendItem[corev1.VolumeMount](&s.VolumeMounts, value)
		}
		return nil
	})
}

// Reset clears s.
func (s *PodPresetSpec) Reset() { *s = PodPresetSpec{} }

// Marshal encodes l as a protobuf message.
func (l *PodPresetList) Marshal() ([]byte, error) {
	b, err := appendMessage(nil, 1, &l.ListMeta)
	if err != nil {
		return nil, err
	}
	return appendEach(b, 2, l.Items)
}

// Unmarshal decodes a protobuf message into l.
func (l *PodPresetList) Unmarshal(data []byte) error {
	return readFields("PodPresetList", data, func(num protowire.Number, value []byte) error {
		switch num {
		case 1:
			return l.ListMeta.Unmarshal(value)
		case 2:
			return appendItem[PodPreset](&l.Items, value)
		}
		return nil
	})
}

// Reset clears l.
func (l *PodPresetList) Reset() { *l = PodPresetList{} }
