package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/images"
)

// The pod and container securityContext as a real container sees it:
// users and groups, no_new_privs, capabilities, seccomp, a read-only
// root, fsGroup on a volume, sysctls, masked /proc paths and the host's
// namespaces; and what the node refuses: runAsNonRoot against a root or
// named image user, unsafe sysctls, a subPath through a planted symlink,
// an Always pull of an image only the node has.
func TestNodeAgentSecurityContext(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t, "--allowed-unsafe-sysctls", "kernel.msg*")

	// Images that exist on this node alone, under a registry name that
	// refuses at once (loopback port 1): one runs as the user "app".
	archive := filepath.Join(t.TempDir(), "named.tar")
	writeUserImage(t, archive, "127.0.0.1:1/flotilla-test/named-user:v1", "app")
	if out, err := exec.Command(cluster.bin, "images", "import", "--data-dir", nc.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("images import: %v\n%s", err, out)
	}
	hostPIDNS, _ := os.Readlink("/proc/self/ns/pid")
	hostIPCNS, _ := os.Readlink("/proc/self/ns/ipc")

	// finished waits for a pod that runs to the end and returns its log.
	finished := func(t *testing.T, name string) string {
		t.Helper()
		nc.eventually(90*time.Second, func() (bool, string) {
			phase := nc.jsonpath("pod", name, "{.status.phase}")
			return phase == "Succeeded" || phase == "Failed", nc.kubectl("", "get", "pod", name, "-o", "yaml").stdout
		})
		out := nc.ok("", "logs", name)
		if phase := nc.jsonpath("pod", name, "{.status.phase}"); phase != "Succeeded" {
			t.Fatalf("pod %s %s:\n%s", name, phase, out)
		}
		return out
	}
	// waiting waits for a container's waiting reason and returns its message.
	waiting := func(t *testing.T, pod, container, reason string) string {
		t.Helper()
		path := `{.status.containerStatuses[?(@.name=="` + container + `")].state.waiting}`
		var msg string
		nc.eventually(90*time.Second, func() (bool, string) {
			got := nc.jsonpath("pod", pod, path)
			msg = nc.jsonpath("pod", pod, `{.status.containerStatuses[?(@.name=="`+container+`")].state.waiting.message}`)
			return strings.Contains(got, `"reason":"`+reason+`"`), got
		})
		return msg
	}

	t.Run("users, groups, privileges, seccomp, read-only root, fsGroup, sysctls", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: restricted
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
    seccompProfile: {type: RuntimeDefault}
    sysctls:
    - {name: kernel.shm_rmid_forced, value: "1"}
    - {name: kernel.msgmax, value: "12345"}
  volumes:
  - name: scratch
    emptyDir: {}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "id; grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status; touch /rootfile 2>/dev/null && echo ROOT-WRITABLE || echo ROOT-READONLY; echo x > /scratch/f && stat -c 'scratch=%g:%A f=%g' /scratch /scratch/f; echo shm=$(cat /proc/sys/kernel/shm_rmid_forced) msgmax=$(cat /proc/sys/kernel/msgmax); echo pidns=$(readlink /proc/self/ns/pid) ipcns=$(readlink /proc/self/ns/ipc)"]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
`
		nc.ok(bound(pod), "create", "-f", "-")
		out := finished(t, "restricted")
		contains(t, out, "uid=1000 gid=3000 groups=2000,3000,4000", "NoNewPrivs:\t1\n", "Seccomp:\t2\n",
			// Only NET_BIND_SERVICE (bit 10) stays in the bounding set; a
			// non-root process has no effective capabilities.
			"CapBnd:\t0000000000000400\n", "CapEff:\t0000000000000000\n",
			"ROOT-READONLY", "scratch=2000:drwxrwsrwx f=2000", "shm=1 msgmax=12345")
		if strings.Contains(out, "pidns="+hostPIDNS) || strings.Contains(out, "ipcns="+hostIPCNS) {
			t.Fatalf("pod shares the host's namespaces:\n%s", out)
		}
	})

	t.Run("defaults: root, escalation allowed, unconfined, /proc masked", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: defaults
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "id; grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status; echo interrupts=$(wc -c < /proc/interrupts); echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null && echo PROCSYS-WRITABLE || echo PROCSYS-READONLY"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		out := finished(t, "defaults")
		contains(t, out, "uid=0(root) gid=0(root)", "NoNewPrivs:\t0\n", "Seccomp:\t0\n", "CapBnd:\t00000000a80425fb\n", "interrupts=0\n", "PROCSYS-READONLY")
	})

	t.Run("seccomp Localhost profile from the agent's seccomp directory", func(t *testing.T) {
		nc := nc.with(t)
		dir := filepath.Join(nc.dir, "agent", "seccomp", "profiles")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
		if err := os.WriteFile(filepath.Join(dir, "no-mkdir.json"), []byte(profile), 0o644); err != nil {
			t.Fatal(err)
		}
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: localprofile
spec:
  restartPolicy: Never
  securityContext:
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>/dev/null && echo MKDIR-OK || echo MKDIR-REFUSED"]
    securityContext:
      seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}
`
		nc.ok(bound(pod), "create", "-f", "-")
		contains(t, finished(t, "localprofile"), "Seccomp:\t2\n", "MKDIR-REFUSED")
	})

	t.Run("host PID and IPC namespaces", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: hostns
spec:
  restartPolicy: Never
  hostPID: true
  hostIPC: true
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo pidns=$(readlink /proc/self/ns/pid) ipcns=$(readlink /proc/self/ns/ipc)"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		contains(t, finished(t, "hostns"), "pidns="+hostPIDNS+" ipcns="+hostIPCNS)
	})

	t.Run("runAsNonRoot refuses a root image and a named user", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: nonroot
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - name: root
    image: busybox
    command: ["sleep", "3600"]
  - name: named
    image: 127.0.0.1:1/flotilla-test/named-user:v1
    imagePullPolicy: Never
`
		nc.ok(bound(pod), "create", "-f", "-")
		uid := nc.jsonpath("pod", "nonroot", "{.metadata.uid}")
		name := `"nonroot_default(` + uid + `)"`
		if got := waiting(t, "nonroot", "root", "CreateContainerConfigError"); got != "container has runAsNonRoot and image will run as root (pod: "+name+", container: root)" {
			t.Errorf("root image: %q", got)
		}
		if got := waiting(t, "nonroot", "named", "CreateContainerConfigError"); got != "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "+name+", container: named)" {
			t.Errorf("named user: %q", got)
		}
	})

	t.Run("unsafe sysctl refused", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: unsafesysctl
spec:
  securityContext:
    sysctls:
    - {name: net.core.somaxconn, value: "1024"}
  containers:
  - {name: c, image: busybox, command: ["true"]}
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("unsafesysctl", "Failed")
		if got := nc.jsonpath("pod", "unsafesysctl", "{.status.reason}: {.status.message}"); got != `SysctlForbidden: Pod was rejected: forbidden sysctl: "net.core.somaxconn" not allowlisted` {
			t.Fatalf("status %q", got)
		}
	})

	t.Run("subPath through a planted symlink to / is refused", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: subpathattack
spec:
  volumes:
  - name: shared
    emptyDir: {}
  initContainers:
  - name: plant
    image: busybox
    command: ["ln", "-s", "/", "/shared/escape"]
    volumeMounts:
    - {name: shared, mountPath: /shared}
  containers:
  - name: victim
    image: busybox
    command: ["sh", "-c", "ls /host-root; sleep 3600"]
    volumeMounts:
    - {name: shared, mountPath: /host-root, subPath: escape}
`
		nc.ok(bound(pod), "create", "-f", "-")
		if got := waiting(t, "subpathattack", "victim", "CreateContainerConfigError"); got != `failed to prepare subPath for volumeMount "shared" of container "victim"` {
			t.Fatalf("message %q", got)
		}
	})

	t.Run("imagePullPolicy Always never runs the node's copy when the pull fails", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: always
spec:
  containers:
  - name: app
    image: 127.0.0.1:1/flotilla-test/named-user:v1
    imagePullPolicy: Always
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(90*time.Second, func() (bool, string) {
			reason := nc.jsonpath("pod", "always", "{.status.containerStatuses[0].state.waiting.reason}")
			return reason == "ErrImagePull" || reason == "ImagePullBackOff", nc.kubectl("", "get", "pod", "always", "-o", "yaml").stdout
		})
	})
}

// writeUserImage writes a docker archive of a busybox image whose config
// runs as user.
func writeUserImage(t *testing.T, path, ref, user string) {
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
	files := []images.File{{Path: "/bin/busybox", Mode: 0o755, Data: bin}, {Path: "/bin/sh", Mode: os.ModeSymlink | 0o777, Link: "busybox"}}
	if err := images.WriteArchive(f, ref, files, images.Config{Cmd: []string{"/bin/sh", "-c", "sleep 3600"}, User: user}); err != nil {
		t.Fatal(err)
	}
}
