package images

import (
	"encoding/base64"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMatchCredentials(t *testing.T) {
	entries := map[string]dockerConfigEntry{
		"127.0.0.1:5000":              {Username: "local", Password: "a"},
		"https://127.0.0.1:5000/team": {Username: "team", Password: "b"},
		"https://index.docker.io/v1/": {Auth: base64.StdEncoding.EncodeToString([]byte("hub:c"))},
		"*.example.com":               {Username: "glob", Password: "d"},
		"registry.other.io:443":       {Username: "port", Password: "e"},
	}
	cases := []struct {
		image string
		want  []string // usernames, in order
	}{
		{"127.0.0.1:5000/app:1", []string{"local"}},
		{"127.0.0.1:5000/team/app", []string{"team", "local"}},
		{"127.0.0.1:5000/teamwork/app", []string{"local"}},
		{"busybox", []string{"hub"}},
		{"docker.io/library/nginx:1.27", []string{"hub"}},
		{"eu.example.com/x/y", []string{"glob"}},
		{"a.b.example.com/x", nil},
		{"registry.other.io/x", nil},
		{"127.0.0.1:5001/app", nil},
	}
	for _, c := range cases {
		got := matchCredentials(entries, c.image)
		var names []string
		for _, a := range got {
			names = append(names, a.Username)
		}
		if len(names) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.image, names, c.want)
			continue
		}
		for i := range names {
			if names[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.image, names, c.want)
			}
		}
	}
	if got := matchCredentials(entries, "busybox"); got[0].Password != "c" {
		t.Errorf("auth field not decoded: %+v", got[0])
	}
}

func TestParseDockerConfig(t *testing.T) {
	json := map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"r:5000":{"username":"u","password":"p"}}}`)}
	if e, err := parseDockerConfig(json); err != nil || e["r:5000"].Username != "u" {
		t.Fatalf("dockerconfigjson: %v %v", e, err)
	}
	legacy := map[string][]byte{corev1.DockerConfigKey: []byte(`{"r:5000":{"auth":"dTpw"}}`)}
	if e, err := parseDockerConfig(legacy); err != nil || e["r:5000"].Auth != "dTpw" {
		t.Fatalf("dockercfg: %v %v", e, err)
	}
	if _, err := parseDockerConfig(map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}); err == nil {
		t.Fatal("malformed config accepted")
	}
	if _, err := parseDockerConfig(map[string][]byte{"other": nil}); err == nil {
		t.Fatal("secret without docker config accepted")
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                    "docker.io/library/busybox:latest",
		"busybox:1.36":               "docker.io/library/busybox:1.36",
		"nginx@sha256:abc":           "docker.io/library/nginx@sha256:abc",
		"kubeguide/redis-master":     "docker.io/kubeguide/redis-master:latest",
		"gcr.io/google_containers/x": "gcr.io/google_containers/x:latest",
		"localhost:5000/app:v2":      "localhost:5000/app:v2",
		"localhost/app":              "localhost/app:latest",
		"flotilla.io/pause:3.10":     "flotilla.io/pause:3.10",
	} {
		if got := normalizeImage(in); got != want {
			t.Errorf("normalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}
