package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// protobufMagic starts every value the Kubernetes protobuf serializer
// writes: the magic, then a runtime.Unknown whose field 2 is the object.
var protobufMagic = []byte("k8s\x00")

// Field numbers of the generated Kubernetes messages this file reads.
const (
	unknownRawField        = 2 // runtime.Unknown.raw
	objectMetaField        = 1 // metadata, in every top-level object
	resourceVersionField   = 6 // ObjectMeta.resourceVersion
	listMetaField          = 1 // a List's metadata
	listItemsField         = 2 // a List's items
	unknownTypeMetaField   = 1
	unknownContentEncoding = 3
	unknownContentType     = 4
)

// rawItem turns a stored value into the object's protobuf message with
// resourceVersion rev. The stored metadata carries an empty
// resourceVersion; protobuf keeps the last value of a repeated scalar
// field, so appending the revision to the metadata message overrides it.
func rawItem(value []byte, rev int64) ([]byte, error) {
	if !bytes.HasPrefix(value, protobufMagic) {
		return nil, errors.New("not a protobuf value")
	}
	obj, err := field(value[len(protobufMagic):], unknownRawField)
	if err != nil {
		return nil, err
	}
	rv := protowire.AppendString(protowire.AppendTag(nil, resourceVersionField, protowire.BytesType), strconv.FormatInt(rev, 10))
	out := make([]byte, 0, len(obj)+len(rv)+4)
	for b := obj; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		if num == objectMetaField && typ == protowire.BytesType {
			meta, _ := protowire.ConsumeBytes(b[n:])
			out = protowire.AppendTag(out, objectMetaField, protowire.BytesType)
			out = protowire.AppendVarint(out, uint64(len(meta)+len(rv)))
			out = append(out, meta...)
			out = append(out, rv...)
		} else {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	return out, nil
}

// field returns the first length-delimited field num of a message.
func field(msg []byte, num protowire.Number) ([]byte, error) {
	for b := msg; len(b) > 0; {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return nil, protowire.ParseError(k)
		}
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[k:])
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			return v, nil
		}
		m := protowire.ConsumeFieldValue(n, typ, b[k:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		b = b[k+m:]
	}
	return nil, fmt.Errorf("field %d missing", num)
}

// FrameList builds a protobuf list response around raw items: the
// serializer's magic, a runtime.Unknown naming the list kind, and the list
// message (listMeta is the marshalled ListMeta).
func FrameList(apiVersion, kind string, listMeta []byte, items [][]byte) []byte {
	typeMeta := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), apiVersion)
	typeMeta = protowire.AppendString(protowire.AppendTag(typeMeta, 2, protowire.BytesType), kind)
	size := protowire.SizeTag(listMetaField) + protowire.SizeBytes(len(listMeta))
	for _, it := range items {
		size += protowire.SizeTag(listItemsField) + protowire.SizeBytes(len(it))
	}
	out := make([]byte, 0, len(protobufMagic)+size+len(typeMeta)+32)
	out = append(out, protobufMagic...)
	out = protowire.AppendTag(out, unknownTypeMetaField, protowire.BytesType)
	out = protowire.AppendBytes(out, typeMeta)
	out = protowire.AppendTag(out, unknownRawField, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	out = protowire.AppendTag(out, listMetaField, protowire.BytesType)
	out = protowire.AppendBytes(out, listMeta)
	for _, it := range items {
		out = protowire.AppendTag(out, listItemsField, protowire.BytesType)
		out = protowire.AppendBytes(out, it)
	}
	out = protowire.AppendString(protowire.AppendTag(out, unknownContentEncoding, protowire.BytesType), "")
	out = protowire.AppendString(protowire.AppendTag(out, unknownContentType, protowire.BytesType), "")
	return out
}
