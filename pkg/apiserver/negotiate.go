package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Media types the server speaks.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// output is what a client asked to receive.
type output struct {
	media string // mediaJSON, mediaYAML or mediaProtobuf
	as    string // "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
}

// negotiate picks the first acceptable representation from the Accept
// header, in the client's order (kubectl lists its preference first).
func negotiate(accept string) (output, bool) {
	if strings.TrimSpace(accept) == "" {
		return output{media: mediaJSON}, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var media string
		switch mt {
		case mediaJSON, "application/*", "*/*":
			media = mediaJSON
		case mediaYAML:
			media = mediaYAML
		case mediaProtobuf:
			media = mediaProtobuf
		default:
			continue
		}
		as := params["as"]
		if as != "" {
			if params["g"] != "meta.k8s.io" {
				continue
			}
			switch as {
			case "Table":
				if v := params["v"]; v != "v1" && v != "v1beta1" {
					continue
				}
				if media == mediaProtobuf {
					continue // Tables are served in JSON only
				}
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				if params["v"] != "v1" {
					continue
				}
			default:
				continue
			}
		}
		return output{media: media, as: as}, true
	}
	return output{}, false
}

func (s *Server) serializer(media string) (runtime.SerializerInfo, bool) {
	return runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), media)
}

// writeObject encodes obj in the negotiated media type. obj must carry
// its apiVersion and kind.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, out output) {
	info, ok := s.serializer(out.media)
	if !ok {
		info, _ = s.serializer(mediaJSON)
	}
	enc := info.Serializer
	if r.URL.Query().Get("pretty") == "true" && info.PrettySerializer != nil {
		enc = info.PrettySerializer
	}
	if info.MediaType == mediaProtobuf {
		// The protobuf encoder sizes the message first and cannot fail
		// half-way, so large lists go straight to the client without an
		// intermediate copy.
		w.Header().Set("Content-Type", info.MediaType)
		w.WriteHeader(code)
		if err := enc.Encode(obj, w); err != nil {
			s.log.Warn("encode response", "err", err)
		}
		return
	}
	var buf bytes.Buffer
	if err := enc.Encode(obj, &buf); err != nil {
		s.writeStatus(w, r, toStatus(fmt.Errorf("encode response: %w", err), schema.GroupResource{}, ""))
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeJSON writes a plain JSON document (discovery, Status).
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"encoding failed","code":500}`)
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// maxBodyBytes bounds request bodies, like upstream's 3 MiB limit.
const maxBodyBytes = 3 << 20

// readBody reads a request body within the size limit.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest("failed to read request body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return data, nil
}

// requestMedia returns the media type of the request body.
func requestMedia(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}
