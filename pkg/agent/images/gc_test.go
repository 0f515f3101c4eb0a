package images

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	builtin "github.com/flotilla-io/flotilla/pkg/images"
)

func TestChooseImages(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	now := t0.Add(time.Hour)
	images := []imageInfo{
		{id: "used", size: 100, lastUsed: t0, firstAt: t0},
		{id: "recent", size: 100, lastUsed: now.Add(-10 * time.Minute), firstAt: t0},
		{id: "old", size: 100, lastUsed: t0.Add(time.Minute), firstAt: t0},
		{id: "oldest", size: 100, lastUsed: t0, firstAt: t0},
		{id: "young", size: 100, lastUsed: now.Add(-time.Minute), firstAt: now.Add(-time.Minute)},
	}
	ids := func(l []imageInfo) []string {
		var out []string
		for _, im := range l {
			out = append(out, im.id)
		}
		return out
	}
	inUse := map[string]bool{"used": true}
	if got := ids(chooseImages(images, inUse, now, 2*time.Minute, 150)); !slices.Equal(got, []string{"oldest", "old"}) {
		t.Errorf("for 150 bytes chose %v, want oldest, old", got)
	}
	if got := ids(chooseImages(images, inUse, now, 2*time.Minute, 1<<30)); !slices.Equal(got, []string{"oldest", "old", "recent"}) {
		t.Errorf("for everything chose %v, want the unused ones older than 2m, least recently used first", got)
	}
	if got := chooseImages(images, inUse, now, 2*time.Minute, 0); len(got) != 0 {
		t.Errorf("for nothing chose %v", ids(got))
	}
}

// gcRuntime is a CRI image and container service in memory.
type gcRuntime struct {
	images     []*runtimeapi.Image
	containers []*runtimeapi.Container
	removed    []string
	available  int64
}

func (f *gcRuntime) ListImages(context.Context, *runtimeapi.ListImagesRequest, ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error) {
	return &runtimeapi.ListImagesResponse{Images: f.images}, nil
}

func (f *gcRuntime) RemoveImage(_ context.Context, in *runtimeapi.RemoveImageRequest, _ ...grpc.CallOption) (*runtimeapi.RemoveImageResponse, error) {
	for i, im := range f.images {
		if im.Id == in.Image.Image {
			f.removed = append(f.removed, im.Id)
			f.available += int64(im.Size)
			f.images = slices.Delete(f.images, i, i+1)
			break
		}
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (f *gcRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest, ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: f.containers}, nil
}

// Above the high threshold, unused images go until the low one; images
// in use, pinned or imported by the agent stay.
func TestGCByUsage(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	f := &gcRuntime{available: 10, images: []*runtimeapi.Image{
		{Id: "sha256:pause", RepoTags: []string{builtin.PauseRef}, Size: 30},
		{Id: "sha256:busybox", RepoTags: []string{builtin.BusyboxRef}, Size: 30},
		{Id: "sha256:pinned", Pinned: true, Size: 30},
		{Id: "sha256:running", RepoTags: []string{"docker.io/library/nginx:1"}, Size: 30},
		{Id: "sha256:a", Size: 6},
		{Id: "sha256:b", Size: 6},
		{Id: "sha256:c", Size: 6},
	}, containers: []*runtimeapi.Container{{Image: &runtimeapi.ImageSpec{Image: "docker.io/library/nginx:1"}, ImageRef: "sha256:running"}}}
	g := &GC{Images: f, Containers: f, Clock: clk, Fs: func(context.Context) (int64, int64, error) { return 100, f.available, nil }}
	// First sight: every image is new, none is old enough.
	if err := g.collectByUsage(context.Background()); err == nil {
		t.Fatalf("collected images seen for the first time: removed %v", f.removed)
	}
	clk.Step(3 * time.Minute)
	// 90% used: 10 bytes to free down to 80%, two unused images of 6.
	if err := g.collectByUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.removed, []string{"sha256:a", "sha256:b"}) {
		t.Fatalf("removed %v, want the unused images a and b (10 bytes wanted)", f.removed)
	}
	// Asked for more than unused images hold: all of them go, and the
	// shortfall is an error.
	f.removed = nil
	if err := g.FreeSpace(context.Background(), 60); err == nil {
		t.Fatalf("wanted 60 bytes available with 6 bytes of unused images: no error (removed %v)", f.removed)
	}
	if !slices.Equal(f.removed, []string{"sha256:c"}) {
		t.Fatalf("removed %v, want c, the last unused image", f.removed)
	}
	// Under the high threshold nothing goes.
	f.images = append(f.images, &runtimeapi.Image{Id: "sha256:d", Size: 1})
	f.removed = nil
	f.available = 30 // 70% used
	clk.Step(3 * time.Minute)
	if err := g.collectByUsage(context.Background()); err != nil || len(f.removed) != 0 {
		t.Fatalf("at 70%% used removed %v (%v)", f.removed, err)
	}
}
