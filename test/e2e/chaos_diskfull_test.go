package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/etcd"
)

// The data dir's filesystem fills up (a 400 MiB tmpfs the test mounts,
// filled by a file of the test's to a little above the server's free-space
// reserve, then by the cluster's own writes): writes are refused with a
// Kubernetes Status carrying etcd's "database space exceeded" while reads
// go on and the server keeps running; once the file is removed, writes are
// accepted again without a restart, and every acknowledged object is
// intact, also after a restart.
func TestChaosDataDirFull(t *testing.T) {
	t.Parallel()
	const scenario = "5 data dir full"
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs: run the e2e suite as root")
	}
	mnt, err := os.MkdirTemp("/tmp", "fl-full-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=400m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	logDir := t.TempDir() // the server's log stays off the full filesystem
	t.Cleanup(func() {
		_ = exec.Command("umount", mnt).Run()
		_ = os.Remove(mnt)
	})
	srv := newServerProc(t, filepath.Join(mnt, "data"), freePort())
	srv.logPath = filepath.Join(logDir, "server.log")
	t.Cleanup(srv.stop) // before the unmount
	srv.start()
	cs := clientFor(t, srv.kubeconfig, "", 20*time.Second)
	ctx := context.Background()

	acked := map[string]string{}
	create := func(name string, size int) error {
		buf := make([]byte, size/2)
		_, _ = rand.Read(buf)
		v := hex.EncodeToString(buf)
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": v}}, metav1.CreateOptions{})
		if err == nil {
			acked[name] = v
		}
		return err
	}
	for i := range 10 {
		if err := create(fmt.Sprintf("before-%d", i), 1000); err != nil {
			t.Fatal(err)
		}
	}

	// Fill the filesystem to 8 MiB above the reserve: the cluster's own
	// writes take it the rest of the way.
	free := func() int64 {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * int64(st.Bsize)
	}
	filler := filepath.Join(mnt, "filler")
	if err := fillFile(filler, free()-etcd.DefaultMinFreeSpace-8<<20); err != nil {
		t.Fatal(err)
	}

	var refusal error
	big := 0
	for i := 0; i < 400 && refusal == nil; i++ {
		if err := create(fmt.Sprintf("big-%d", i), 900<<10); err != nil {
			refusal = err
			break
		}
		big++
	}
	if refusal == nil {
		t.Fatalf("400 writes of 900 KiB accepted with %d bytes free; want a refusal", free())
	}
	var status apierrors.APIStatus
	if !errors.As(refusal, &status) {
		t.Fatalf("the refused write got %T %v, want a Kubernetes Status", refusal, refusal)
	}
	st := status.Status()
	if st.Code != 500 || st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "database space exceeded") {
		t.Fatalf("refusal: code %d reason %q message %q; want 500 InternalError with etcd's \"database space exceeded\"", st.Code, st.Reason, st.Message)
	}
	if !srv.alive() {
		t.Fatal("the server exited when its filesystem filled")
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "before-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("read while the filesystem is full: %v", err)
	}
	freeAtRefusal := free()

	// Space returns: writes are accepted again, with no restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	eventually(t, 30*time.Second, func() (bool, string) {
		err := create(fmt.Sprintf("after-%d", time.Now().UnixNano()), 1000)
		return err == nil, fmt.Sprint(err)
	})
	recovery := time.Since(freed)
	if !srv.alive() {
		t.Fatal("the server exited")
	}

	check := func(when string) {
		t.Helper()
		list, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: list: %v", when, err)
		}
		have := map[string]string{}
		for _, cm := range list.Items {
			have[cm.Name] = cm.Data["v"]
		}
		for name, v := range acked {
			if have[name] != v {
				t.Fatalf("%s: acknowledged configmap %s lost or changed", when, name)
			}
		}
	}
	check("after space returned")
	srv.stop()
	srv.start()
	cs = clientFor(t, srv.kubeconfig, "", 20*time.Second)
	check("after a restart")

	t.Logf("refused after %d writes of 900 KiB (%d bytes free) with %q; writes accepted %v after the space returned",
		big, freeAtRefusal, st.Message, recovery)
	figure(scenario, "900 KiB writes accepted once only reserve+8 MiB was free", "%d", big)
	figure(scenario, "free bytes on the filesystem at the refusal", "%d", freeAtRefusal)
	figure(scenario, "what the client sees", "%d %s: %s", st.Code, st.Reason, st.Message)
	figure(scenario, "server process", "running throughout")
	figure(scenario, "writes accepted again after the space returned", "%v", recovery.Round(10*time.Millisecond))
	figure(scenario, "acknowledged objects lost or changed (also after restart)", "0 of %d", len(acked))
}

// fillFile writes size bytes of zeros to path (synced), or as much as fits.
func fillFile(path string, size int64) error {
	if size <= 0 {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(int64(len(buf)), size)
		if _, err := f.Write(buf[:n]); err != nil {
			return fmt.Errorf("fill %s: %w", path, err)
		}
		size -= n
	}
	return f.Sync()
}
