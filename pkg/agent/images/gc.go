package images

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	builtin "github.com/flotilla-io/flotilla/pkg/images"
)

// Upstream's image garbage collection defaults: collect when the image
// file system is 85% used, down to 80%; every 5 minutes; images younger
// than 2 minutes stay.
const (
	DefaultGCHighThreshold = 85
	DefaultGCLowThreshold  = 80
	gcPeriod               = 5 * time.Minute
	minImageAge            = 2 * time.Minute
)

// GCRuntime is the CRI calls image garbage collection makes.
type GCRuntime interface {
	ListImages(ctx context.Context, in *runtimeapi.ListImagesRequest, opts ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error)
	RemoveImage(ctx context.Context, in *runtimeapi.RemoveImageRequest, opts ...grpc.CallOption) (*runtimeapi.RemoveImageResponse, error)
}

// ContainerLister lists the runtime's containers, all states.
type ContainerLister interface {
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
}

// FsUsage reads the image file system: its capacity and available bytes.
type FsUsage func(ctx context.Context) (capacity, available int64, err error)

// GC removes unused images as the kubelet's image garbage collector:
// when the image file system is HighThreshold percent used, the unused
// images, least recently used first, until it is LowThreshold percent
// used. Images the agent imports itself (pause, busybox) and images the
// runtime pins stay: this node may reach no registry to get them back.
type GC struct {
	Images     GCRuntime
	Containers ContainerLister
	Fs         FsUsage
	// HighThreshold and LowThreshold are percentages of the image file
	// system (0 = the defaults).
	HighThreshold, LowThreshold int
	Clock                       clock.WithTicker
	Log                         *slog.Logger

	mu       sync.Mutex
	lastUsed map[string]time.Time // image id → when a container last used it (or it was first seen)
	firstAt  map[string]time.Time // image id → when it was first seen
}

// imageInfo is what the collector knows of one image.
type imageInfo struct {
	id       string
	size     int64
	lastUsed time.Time
	firstAt  time.Time
}

// chooseImages picks the images to remove to free need bytes: unused,
// not pinned, at least minAge old, least recently used first (the
// earliest seen first among equals).
func chooseImages(images []imageInfo, inUse map[string]bool, now time.Time, minAge time.Duration, need int64) []imageInfo {
	var cands []imageInfo
	for _, im := range images {
		if !inUse[im.id] && now.Sub(im.firstAt) >= minAge {
			cands = append(cands, im)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if !cands[i].lastUsed.Equal(cands[j].lastUsed) {
			return cands[i].lastUsed.Before(cands[j].lastUsed)
		}
		return cands[i].firstAt.Before(cands[j].firstAt)
	})
	var out []imageInfo
	var freed int64
	for _, im := range cands {
		if freed >= need {
			break
		}
		out = append(out, im)
		freed += im.size
	}
	return out
}

func (g *GC) clock() clock.WithTicker {
	if g.Clock == nil {
		return clock.RealClock{}
	}
	return g.Clock
}

func (g *GC) log() *slog.Logger {
	if g.Log == nil {
		return slog.Default()
	}
	return g.Log
}

// Run collects every 5 minutes until ctx ends.
func (g *GC) Run(ctx context.Context) {
	t := g.clock().NewTicker(gcPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := g.collectByUsage(ctx); err != nil && ctx.Err() == nil {
			g.log().Warn("image garbage collection", "err", err)
		}
	}
}

// collectByUsage frees images when usage passed the high threshold.
func (g *GC) collectByUsage(ctx context.Context) error {
	capacity, available, err := g.Fs(ctx)
	if err != nil || capacity <= 0 {
		return err
	}
	high, low := g.HighThreshold, g.LowThreshold
	if high <= 0 {
		high = DefaultGCHighThreshold
	}
	if low <= 0 {
		low = DefaultGCLowThreshold
	}
	used := capacity - available
	if used*100 < int64(high)*capacity {
		return nil
	}
	want := capacity - capacity*int64(low)/100
	g.log().Info("image file system over the high threshold", "usedPercent", used*100/capacity, "high", high, "low", low)
	return g.FreeSpace(ctx, want)
}

// FreeSpace removes unused images until the image file system has
// wantAvailable bytes available, as far as unused images allow.
func (g *GC) FreeSpace(ctx context.Context, wantAvailable int64) error {
	_, available, err := g.Fs(ctx)
	if err != nil {
		return err
	}
	need := wantAvailable - available
	if need <= 0 {
		return nil
	}
	images, inUse, err := g.observe(ctx)
	if err != nil {
		return err
	}
	var freed int64
	var errs []error
	for _, im := range chooseImages(images, inUse, g.clock().Now(), minImageAge, need) {
		if _, err := g.Images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: im.id}}); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", im.id, err))
			continue
		}
		g.forget(im.id)
		freed += im.size
		g.log().Info("removed unused image", "image", im.id, "size", im.size)
	}
	if freed < need {
		return fmt.Errorf("freed %d of the %d bytes wanted (%d errors)", freed, need, len(errs))
	}
	return nil
}

// observe lists the images, updating when each was last used, and the
// ids of those in use or kept.
func (g *GC) observe(ctx context.Context) ([]imageInfo, map[string]bool, error) {
	list, err := g.Images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("list images: %w", err)
	}
	ctrs, err := g.Containers.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	now := g.clock().Now()
	inUse := map[string]bool{}
	for _, c := range ctrs.Containers {
		inUse[c.ImageRef] = true
		if c.GetImage().GetImage() != "" {
			inUse[c.GetImage().GetImage()] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastUsed == nil {
		g.lastUsed, g.firstAt = map[string]time.Time{}, map[string]time.Time{}
	}
	var out []imageInfo
	for _, im := range list.Images {
		if _, ok := g.firstAt[im.Id]; !ok {
			g.firstAt[im.Id], g.lastUsed[im.Id] = now, now
		}
		used := inUse[im.Id]
		for _, tag := range im.RepoTags {
			used = used || inUse[tag]
		}
		if used {
			g.lastUsed[im.Id] = now
		}
		if used || im.Pinned || slices.Contains(im.RepoTags, builtin.PauseRef) || slices.Contains(im.RepoTags, builtin.BusyboxRef) {
			inUse[im.Id] = true
		}
		out = append(out, imageInfo{id: im.Id, size: int64(im.GetSize()), lastUsed: g.lastUsed[im.Id], firstAt: g.firstAt[im.Id]})
	}
	return out, inUse, nil
}

func (g *GC) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.lastUsed, id)
	delete(g.firstAt, id)
}
