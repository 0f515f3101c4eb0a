package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/flotilla-io/flotilla/pkg/images"
)

// Images come from archives (`flotilla images import`) and from a
// registry through containerd, with credentials from image pull secrets
// given on the pod or by its ServiceAccount.
func TestImagesFromArchivesAndRegistry(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	dir := t.TempDir()

	// An archive imported into the node's runtime runs with pull policy Never.
	archive := filepath.Join(dir, "hello.tar")
	writeTestImage(t, archive, "flotilla.test/hello:v1", "hello from an archive")
	out, err := exec.Command(cluster.bin, "images", "import", "--data-dir", nc.dir, archive).CombinedOutput()
	if err != nil {
		t.Fatalf("images import: %v\n%s", err, out)
	}
	nc.ok(bound(podManifest("imported", "flotilla.test/hello:v1", "Never", "")), "apply", "-f", "-")
	nc.waitPhase("imported", "Succeeded")
	if got := nc.ok("", "logs", "imported"); !strings.Contains(got, "hello from an archive") {
		t.Fatalf("logs of the imported image: %q", got)
	}

	// A registry on loopback that wants a password.
	reg := startRegistry(t, dir, "puller", "s3cret")
	image := reg + "/team/app:v1"
	pushTestImage(t, "http://"+reg, "team/app", "v1", "puller", "s3cret", "hello from the registry")
	hosts := filepath.Join(nc.dir, "agent", "registries.d", reg)
	if err := os.MkdirAll(hosts, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", reg, reg)
	if err := os.WriteFile(filepath.Join(hosts, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without credentials the pull fails and backs off.
	nc.ok(bound(podManifest("anonymous", image, "Always", "")), "apply", "-f", "-")
	nc.eventually(60*time.Second, func() (bool, string) {
		reason := nc.jsonpath("pod", "anonymous", "{.status.containerStatuses[0].state.waiting.reason}")
		return reason == "ErrImagePull" || reason == "ImagePullBackOff", reason
	})
	if ev := nc.ok("", "get", "events", "--field-selector", "involvedObject.name=anonymous"); !strings.Contains(ev, "Failed") {
		t.Fatalf("no Failed event for the refused pull:\n%s", ev)
	}

	// A docker-registry Secret on the pod lets it pull.
	nc.ok("", "create", "secret", "docker-registry", "regcred", "--docker-server="+reg, "--docker-username=puller", "--docker-password=s3cret")
	nc.ok(bound(podManifest("withsecret", image, "Always", "regcred")), "apply", "-f", "-")
	nc.waitPhase("withsecret", "Succeeded")
	if got := nc.ok("", "logs", "withsecret"); !strings.Contains(got, "hello from the registry") {
		t.Fatalf("logs of the pulled image: %q", got)
	}

	// The ServiceAccount's imagePullSecrets are given to new pods.
	nc.ok("", "patch", "serviceaccount", "default", "-p", `{"imagePullSecrets":[{"name":"regcred"}]}`)
	nc.ok(bound(podManifest("viaaccount", image, "Always", "")), "apply", "-f", "-")
	if got := nc.jsonpath("pod", "viaaccount", "{.spec.imagePullSecrets[0].name}"); got != "regcred" {
		t.Fatalf("pod did not get the account's pull secret: %q", got)
	}
	nc.waitPhase("viaaccount", "Succeeded")
}

func podManifest(name, image, policy, secret string) string {
	m := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: %s\n    imagePullPolicy: %s\n", name, image, policy)
	if secret != "" {
		m += fmt.Sprintf("  imagePullSecrets:\n  - name: %s\n", secret)
	}
	return m
}

// writeTestImage writes a docker archive of a one-binary image whose
// command prints message.
func writeTestImage(t *testing.T, path, ref, message string) {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := []images.File{{Path: "/bin/busybox", Mode: 0o755, Data: bin}, {Path: "/bin/sh", Mode: os.ModeSymlink | 0o777, Link: "busybox"}, {Path: "/bin/echo", Mode: os.ModeSymlink | 0o777, Link: "busybox"}}
	if err := images.WriteArchive(f, ref, files, images.Config{Cmd: []string{"/bin/echo", message}}); err != nil {
		t.Fatal(err)
	}
}

// startRegistry runs Debian's docker-registry on a loopback port with
// one htpasswd user and returns HOST:PORT.
func startRegistry(t *testing.T, dir, user, password string) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (hack/install-deps.sh --test installs it): %v", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    realm: flotilla-test\n    path: %s\n",
		filepath.Join(dir, "registry"), addr, filepath.Join(dir, "htpasswd"))
	cfgPath := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("registry log:\n%s", tail(logs.String(), 30))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pushTestImage uploads a test image to the registry through the
// distribution API, as an OCI manifest with one uncompressed layer.
func pushTestImage(t *testing.T, base, repo, tag, user, password, message string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "push.tar")
	writeTestImage(t, archive, "push:latest", message)
	entries := readTar(t, archive)
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("archive manifest: %v", err)
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Size      int    `json:"size"`
		Digest    string `json:"digest"`
	}
	upload := func(mediaType string, blob []byte) descriptor {
		sum := sha256.Sum256(blob)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		resp := registryDo(t, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", "", nil, user, password)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %s", resp.Status)
		}
		loc, err := url.Parse(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		loc, err = loc.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		q.Set("digest", digest)
		loc.RawQuery = q.Encode()
		if resp := registryDo(t, http.MethodPut, loc.String(), "application/octet-stream", blob, user, password); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload blob: %s", resp.Status)
		}
		return descriptor{MediaType: mediaType, Size: len(blob), Digest: digest}
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        upload("application/vnd.oci.image.config.v1+json", entries[manifest[0].Config]),
		"layers":        []descriptor{upload("application/vnd.oci.image.layer.v1.tar", entries[manifest[0].Layers[0]])},
	}
	body, _ := json.Marshal(m)
	if resp := registryDo(t, http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", body, user, password); resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %s", resp.Status)
	}
}

func registryDo(t *testing.T, method, u, contentType string, body []byte, user, password string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = b
		}
	}
}

// The built-in busybox image's network tools work as upstream's do in a pod
// (Debian's busybox 1.35 wget dies on -T, its nc has no -z; the image
// carries pkg/images' own): a page served by busybox's httpd is fetched with
// `wget -T`, and nc -z tells the open port from a closed one.
func TestBusyboxImageNetworkTools(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	script := `mkdir -p /www && echo served-by-httpd > /www/index.html && httpd -p 8080 -h /www &&
until nc -z -w 1 127.0.0.1 8080; do usleep 50000; done &&
echo "body=$(wget -T 3 -q -O- http://localhost:8080/)" &&
if wget -T 3 -q -O- http://127.0.0.1:8081/; then echo closed-port-fetched; else echo "closed-port-status=$?"; fi &&
if nc -z -w 1 127.0.0.1 8081; then echo closed-port-open; else echo "nc-closed-status=$?"; fi`
	pod := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bbtools\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", %q]\n", script)
	nc.ok(bound(pod), "apply", "-f", "-")
	nc.waitPhase("bbtools", "Succeeded")
	logs := nc.ok("", "logs", "bbtools")
	for _, want := range []string{"body=served-by-httpd\n", "closed-port-status=1\n", "nc-closed-status=1\n"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}
