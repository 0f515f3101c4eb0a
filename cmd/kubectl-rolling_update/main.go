// Command kubectl-rolling_update is a kubectl plugin bringing back
// `kubectl rolling-update`: the rolling update of a ReplicationController
// by a new one, one pod at a time, as kubectl did before it dropped the
// command. Installed on PATH it runs as `kubectl rolling-update`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/cmd/kubectl-rolling_update/internal/rollingupdate"
)

const example = `  # Update pods of frontend-v1 using new replication controller data in frontend-v2.json.
  kubectl rolling-update frontend-v1 -f frontend-v2.json

  # Update pods of frontend-v1 using JSON data passed into stdin.
  cat frontend-v2.json | kubectl rolling-update frontend-v1 -f -

  # Update the pods of frontend-v1 to frontend-v2 by just changing the image, and switching the
  # name of the replication controller.
  kubectl rolling-update frontend-v1 frontend-v2 --image=image:v2

  # Update the pods of frontend by just changing the image, and keeping the old name.
  kubectl rolling-update frontend --image=image:v2

  # Abort and reverse an existing rollout in progress (from frontend-v1 to frontend-v2).
  kubectl rolling-update frontend-v1 frontend-v2 --rollback`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newCommand(os.Stdin, os.Stdout).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newCommand(stdin io.Reader, out io.Writer) *cobra.Command {
	var (
		kubeconfig, kubeContext, namespace string
		filename, image, container, pull   string
		deploymentKey, dryRun              string
		rollback                           bool
	)
	cfg := rollingupdate.Config{}
	cmd := &cobra.Command{
		Use:          "kubectl rolling-update OLD_CONTROLLER_NAME ([NEW_CONTROLLER_NAME] --image=NEW_CONTAINER_IMAGE | -f NEW_CONTROLLER_SPEC)",
		Short:        "Perform a rolling update of the given ReplicationController",
		Long:         "Replaces the specified replication controller with a new replication controller by updating one pod at a time to use the new PodTemplate. The new-controller.json must specify the same namespace as the existing replication controller and overwrite at least one (common) label in its replicaSelector.",
		Example:      example,
		Args:         cobra.RangeArgs(1, 2),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if filename != "" && image != "" {
				return fmt.Errorf("--filename and --image can not both be specified")
			}
			if filename == "" && image == "" && !rollback {
				return fmt.Errorf("must specify --filename or --image for new controller")
			}
			if filename != "" && len(args) > 1 {
				return fmt.Errorf("--filename and the new controller name can not both be specified")
			}
			switch dryRun {
			case "none", "false", "":
			case "client", "server", "true":
				cfg.DryRun = true
			default:
				return fmt.Errorf(`invalid --dry-run value %q: want "none", "server" or "client"`, dryRun)
			}
			loading := clientcmd.NewDefaultClientConfigLoadingRules()
			loading.ExplicitPath = kubeconfig
			overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
			overrides.Context.Namespace = namespace
			cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, overrides)
			rest, err := cc.ClientConfig()
			if err != nil {
				return err
			}
			rest.UserAgent = "kubectl-rolling_update"
			if cfg.Namespace, _, err = cc.Namespace(); err != nil {
				return err
			}
			if cfg.Client, err = kubernetes.NewForConfig(rest); err != nil {
				return err
			}
			cfg.Out, cfg.OldName, cfg.Image, cfg.Container = out, args[0], image, container
			cfg.PullPolicy, cfg.DeploymentKey, cfg.Rollback = corev1.PullPolicy(pull), deploymentKey, rollback
			if len(args) > 1 {
				cfg.NewName = args[1]
			}
			if filename != "" {
				if cfg.NewRC, err = readRC(filename, stdin); err != nil {
					return err
				}
			}
			return rollingupdate.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests.")
	f.StringVar(&kubeContext, "context", "", "The name of the kubeconfig context to use")
	f.StringVarP(&namespace, "namespace", "n", "", "If present, the namespace scope for this CLI request")
	f.StringVarP(&filename, "filename", "f", "", "Filename or URL to file to use to create the new replication controller.")
	f.StringVar(&image, "image", "", "Image to use for upgrading the replication controller. Must be distinct from the existing image (either new image or new image tag).  Can not be used with --filename/-f")
	f.StringVar(&container, "container", "", "Container name which will have its image upgraded. Only relevant when --image is specified, ignored otherwise. Required when using --image on a multi-container pod")
	f.StringVar(&pull, "image-pull-policy", "", "Explicit policy for when to pull container images. Required when --image is same as existing image, ignored otherwise.")
	f.StringVar(&deploymentKey, "deployment-label-key", rollingupdate.DefaultDeploymentKey, "The key to use to differentiate between two different controllers, default 'deployment'.  Only relevant when --image is specified, ignored otherwise")
	f.DurationVar(&cfg.UpdatePeriod, "update-period", rollingupdate.DefaultUpdatePeriod, `Time to wait between updating pods. Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h".`)
	f.DurationVar(&cfg.PollInterval, "poll-interval", rollingupdate.DefaultPollInterval, `Time delay between polling for replication controller status after the update. Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h".`)
	f.DurationVar(&cfg.Timeout, "timeout", rollingupdate.DefaultTimeout, `Max time to wait for a replication controller to update before giving up. Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h".`)
	f.BoolVar(&rollback, "rollback", false, "If true, this is a request to abort an existing rollout that is partially rolled out. It effectively reverses current and next and runs a rollout")
	f.StringVar(&dryRun, "dry-run", "none", `Must be "none", "server", or "client". If client or server, only print what would be done, without doing it.`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	return cmd
}

// readRC reads the new controller from a YAML or JSON file ("-" is stdin).
func readRC(name string, stdin io.Reader) (*corev1.ReplicationController, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	rc := &corev1.ReplicationController{}
	if err := yaml.Unmarshal(data, rc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	if rc.Kind != "ReplicationController" || (rc.APIVersion != "v1" && rc.APIVersion != "") {
		return nil, fmt.Errorf("%s contains a %s %s, not a v1 ReplicationController", name, rc.APIVersion, strings.TrimSpace(rc.Kind))
	}
	return rc, nil
}
