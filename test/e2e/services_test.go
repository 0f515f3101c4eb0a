package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Pods see the cluster: names through the cluster DNS per dnsPolicy,
// Services' addresses in their environment, the API server through the
// kubernetes Service, and Services through the node's proxy — the flows
// of the seeds, on one node running its Service proxy and DNS server.
func TestPodsSeeTheCluster(t *testing.T) {
	t.Parallel()
	sc := startSvcCluster(t)

	// Seed 002: an init container waits for a Service by name.
	t.Run("init container waits for myservice", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("seed002")
		sc.ok(`apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app.kubernetes.io/name: MyApp}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: myapp-container
    image: busybox
    command: ['sh', '-c', 'echo The app is running! && sleep 3600']
  initContainers:
  - name: init-myservice
    image: busybox
    command: ['sh', '-c', "until nslookup myservice.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace).svc.cluster.local; do echo waiting for myservice; sleep 2; done"]
`, "apply", "-n", ns, "-f", "-")
		// The loop has asked twice and been told the name does not exist:
		// the pod is still initialising.
		sc.eventually("init container waiting", 90*time.Second, func() (bool, string) {
			r := sc.kubectl("", "logs", "myapp-pod", "-n", ns, "-c", "init-myservice")
			return strings.Count(r.stdout, "waiting for myservice") >= 2, r.String()
		})
		out := sc.ok("", "get", "pod", "myapp-pod", "-n", ns)
		if !regexp.MustCompile(`myapp-pod\s+0/1\s+Init:0/1\s`).MatchString(out) {
			t.Fatalf("pod before the Service:\n%s", out)
		}
		if logs := sc.kubectl("", "logs", "myapp-pod", "-n", ns, "-c", "init-myservice").stdout; !strings.Contains(logs, "NXDOMAIN") && !strings.Contains(logs, "can't find") {
			t.Fatalf("nslookup did not report a missing name:\n%s", logs)
		}
		sc.ok(`apiVersion: v1
kind: Service
metadata:
  name: myservice
spec:
  ports:
  - protocol: TCP
    port: 80
    targetPort: 9376
`, "apply", "-n", ns, "-f", "-")
		ip := sc.ok("", "get", "service", "myservice", "-n", ns, "-o", "jsonpath={.spec.clusterIP}")
		sc.eventually("the app running", 90*time.Second, func() (bool, string) {
			out := sc.kubectl("", "get", "pod", "myapp-pod", "-n", ns).stdout
			return regexp.MustCompile(`myapp-pod\s+1/1\s+Running\s`).MatchString(out), out
		})
		contains(t, sc.ok("", "logs", "myapp-pod", "-n", ns, "-c", "init-myservice"), "myservice."+ns+".svc.cluster.local", ip)
		contains(t, sc.ok("", "logs", "myapp-pod", "-n", ns), "The app is running!")
	})

	t.Run("resolv.conf per dnsPolicy", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("dnspolicy")
		hostServers, hostSearch := hostResolvConf(t)
		pod := func(name, extra string) {
			sc.ok(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["cat", "/etc/resolv.conf"]
%s`, name, extra), "apply", "-n", ns, "-f", "-")
		}
		pod("cluster-first", "")
		pod("default", "  dnsPolicy: Default\n")
		pod("none", `  dnsPolicy: "None"
  dnsConfig:
    nameservers: ["192.0.2.1"]
    searches: ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"]
    options:
    - {name: ndots, value: "2"}
    - {name: edns0}
`)
		pod("host-net-cluster", "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n")
		pod("host-net-default", "  hostNetwork: true\n")
		pod("cluster-merged", `  dnsConfig:
    nameservers: ["192.0.2.1"]
    searches: ["extra.example"]
    options:
    - {name: ndots, value: "3"}
    - {name: single-request}
`)
		cluster := "search " + strings.Join(append([]string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"}, hostSearch...), " ") + "\n" +
			"nameserver 10.43.0.10\noptions ndots:5\n"
		var host string
		if len(hostSearch) > 0 {
			host = "search " + strings.Join(hostSearch, " ") + "\n"
		}
		host += "nameserver " + strings.Join(hostServers, "\nnameserver ") + "\n"
		for name, want := range map[string]string{
			"cluster-first":    cluster,
			"host-net-cluster": cluster,
			"none":             "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 192.0.2.1\noptions ndots:2 edns0\n",
			"cluster-merged": "search " + strings.Join(append([]string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"}, append(hostSearch, "extra.example")...), " ") + "\n" +
				"nameserver 10.43.0.10\nnameserver 192.0.2.1\noptions ndots:3 single-request\n",
		} {
			if got := sc.logsWhenDone(ns, name); got != want {
				t.Errorf("%s: resolv.conf\n%s\nwant\n%s", name, got, want)
			}
		}
		// The node's file: its nameservers and search line (its options
		// too, in either order).
		for _, name := range []string{"default", "host-net-default"} {
			got := sc.logsWhenDone(ns, name)
			if opts := regexp.MustCompile(`(?m)^options .*\n`).FindString(got); !strings.HasPrefix(got, host) || len(got) != len(host)+len(opts) {
				t.Errorf("%s: resolv.conf\n%s\nwant the node's\n%s", name, got, host)
			}
		}
	})

	t.Run("hostname, subdomain and setHostnameAsFQDN", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("fqdn")
		sc.ok(`apiVersion: v1
kind: Pod
metadata:
  name: fqdn
spec:
  restartPolicy: Never
  hostname: web-0
  subdomain: web
  setHostnameAsFQDN: true
  hostAliases:
  - ip: "192.0.2.9"
    hostnames: ["foo.local", "bar.local"]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "hostname; cat /etc/hosts"]
`, "apply", "-n", ns, "-f", "-")
		out := sc.logsWhenDone(ns, "fqdn")
		ip := sc.ok("", "get", "pod", "fqdn", "-n", ns, "-o", "jsonpath={.status.podIP}")
		want := "web-0.web.fqdn.svc.cluster.local\n# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
			ip + "\tweb-0.web.fqdn.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n192.0.2.9\tfoo.local\tbar.local\n"
		if out != want {
			t.Fatalf("hostname and /etc/hosts:\n%s\nwant\n%s", out, want)
		}
	})

	t.Run("service env vars", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("envvars")
		sc.ok(`apiVersion: v1
kind: Service
metadata:
  name: env-svc
spec:
  selector: {app: nothing}
  ports:
  - {name: http, port: 8080, targetPort: 80}
  - {name: dns, port: 53, protocol: UDP}
`, "apply", "-n", ns, "-f", "-")
		ip := sc.ok("", "get", "service", "env-svc", "-n", ns, "-o", "jsonpath={.spec.clusterIP}")
		pod := func(name, links string) {
			sc.ok(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
%s  containers:
  - name: c
    image: busybox
    command: ["env"]
    env:
    - {name: URL, value: "http://$(ENV_SVC_SERVICE_HOST):$(ENV_SVC_SERVICE_PORT_HTTP)/"}
`, name, links), "apply", "-n", ns, "-f", "-")
		}
		pod("links", "")
		pod("no-links", "  enableServiceLinks: false\n")
		env := envMap(sc.logsWhenDone(ns, "links"))
		for k, want := range map[string]string{
			"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
			"KUBERNETES_PORT": "tcp://10.43.0.1:443", "KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1",
			"ENV_SVC_SERVICE_HOST": ip, "ENV_SVC_SERVICE_PORT": "8080", "ENV_SVC_SERVICE_PORT_HTTP": "8080", "ENV_SVC_SERVICE_PORT_DNS": "53",
			"ENV_SVC_PORT": "tcp://" + ip + ":8080", "ENV_SVC_PORT_8080_TCP": "tcp://" + ip + ":8080", "ENV_SVC_PORT_8080_TCP_PROTO": "tcp",
			"ENV_SVC_PORT_8080_TCP_PORT": "8080", "ENV_SVC_PORT_8080_TCP_ADDR": ip, "ENV_SVC_PORT_53_UDP": "udp://" + ip + ":53",
			"URL": "http://" + ip + ":8080/",
		} {
			if env[k] != want {
				t.Errorf("%s = %q, want %q", k, env[k], want)
			}
		}
		env = envMap(sc.logsWhenDone(ns, "no-links"))
		if env["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" || env["KUBERNETES_SERVICE_PORT"] != "443" {
			t.Errorf("without service links: KUBERNETES_SERVICE_HOST %q, _PORT %q", env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"])
		}
		for k := range env {
			if strings.HasPrefix(k, "ENV_SVC_") {
				t.Errorf("enableServiceLinks false, yet %s=%s", k, env[k])
			}
		}
		// $(ENV_SVC_…) is left as written when there is no such variable.
		if env["URL"] != "http://$(ENV_SVC_SERVICE_HOST):$(ENV_SVC_SERVICE_PORT_HTTP)/" {
			t.Errorf("URL without service links = %q", env["URL"])
		}
	})

	// The stock kubectl in a pod finds the API server through
	// KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA.
	// The namespace's default account may read pods once bound to view.
	t.Run("kubectl in a pod", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("incluster")
		sc.ok("", "create", "rolebinding", "default-view", "-n", ns, "--clusterrole=view", "--serviceaccount="+ns+":default")
		sa := "system:serviceaccount:" + ns + ":default"
		sc.eventually("the binding takes effect", 10*time.Second, func() (bool, string) {
			r := sc.kubectl("", "auth", "can-i", "list", "pods", "-n", ns, "--as", sa)
			return strings.TrimSpace(r.stdout) == "yes", r.String()
		})
		sc.ok(`apiVersion: v1
kind: Pod
metadata:
  name: kubectl
spec:
  restartPolicy: Never
  volumes:
  - name: kubectl
    hostPath: {path: /usr/bin/kubectl, type: File}
  containers:
  - name: c
    image: busybox
    env:
    - {name: HOME, value: /tmp}
    command: ["/kubectl", "get", "pods", "-o", "name"]
    volumeMounts:
    - {name: kubectl, mountPath: /kubectl, readOnly: true}
`, "apply", "-n", ns, "-f", "-")
		if out := sc.logsWhenDone(ns, "kubectl"); strings.TrimSpace(out) != "pod/kubectl" {
			t.Fatalf("kubectl get pods in the pod:\n%s", out)
		}
	})

	// The tokens a pod is given: the kube-api-access volume's (3607 s,
	// the API's audience) and a projected one with its own audience and
	// lifetime, both bound to the pod, and refused once it is gone.
	t.Run("projected service account tokens", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("projected-tokens")
		sc.ok("", "create", "serviceaccount", "app", "-n", ns)
		sc.ok(`apiVersion: v1
kind: Pod
metadata:
  name: tokens
spec:
  restartPolicy: Never
  serviceAccountName: app
  volumes:
  - name: vault
    projected:
      sources:
      - serviceAccountToken: {path: vault-token, audience: vault, expirationSeconds: 600}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; cat /vault/vault-token; echo; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; head -1 /var/run/secrets/kubernetes.io/serviceaccount/ca.crt"]
    volumeMounts:
    - {name: vault, mountPath: /vault, readOnly: true}
`, "apply", "-n", ns, "-f", "-")
		lines := strings.Split(strings.TrimSpace(sc.logsWhenDone(ns, "tokens")), "\n")
		if len(lines) != 4 || lines[2] != ns || lines[3] != "-----BEGIN CERTIFICATE-----" {
			t.Fatalf("pod output:\n%s", strings.Join(lines, "\n"))
		}
		uid := sc.ok("", "get", "pod", "tokens", "-n", ns, "-o", "jsonpath={.metadata.uid}")
		// The kube-api-access token asked for 3607 s is valid for a year
		// with a warnafter claim at 3607 s, as upstream's by default.
		for i, want := range []struct {
			aud            string
			lifetime, warn float64
		}{{"https://kubernetes.default.svc.cluster.local", 365 * 24 * 3600, 3607}, {"vault", 600, 0}} {
			c := jwtClaims(t, lines[i])
			kube, _ := c["kubernetes.io"].(map[string]any)
			pod, _ := kube["pod"].(map[string]any)
			aud, _ := c["aud"].([]any)
			warn := 0.0
			if w, ok := kube["warnafter"].(float64); ok {
				warn = w - c["iat"].(float64)
			}
			if len(aud) != 1 || aud[0] != want.aud || c["exp"].(float64)-c["iat"].(float64) != want.lifetime || warn != want.warn ||
				pod["uid"] != uid || c["sub"] != "system:serviceaccount:"+ns+":app" || kube["node"] == nil {
				t.Errorf("token %d claims %v", i, c)
			}
		}
		// The API takes the kube-api-access token while the pod exists
		// (whoami needs no role: every authenticated user may ask)...
		whoami := func(token string) result {
			return sc.kubectl("", "--token", token, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		}
		if r := whoami(lines[0]); r.code != 0 || r.stdout != "system:serviceaccount:"+ns+":app" {
			t.Fatalf("pod's token refused while the pod exists: %s", r)
		}
		// ...and the vault token, meant for another audience, never.
		if r := whoami(lines[1]); r.code == 0 || !strings.Contains(r.stderr, "Unauthorized") {
			t.Errorf("vault token: %s", r)
		}
		sc.ok("", "delete", "pod", "tokens", "-n", ns, "--wait=true")
		sc.eventually("the deleted pod's token refused", 30*time.Second, func() (bool, string) {
			r := whoami(lines[0])
			return r.code != 0 && strings.Contains(r.stderr, "Unauthorized"), r.String()
		})
	})

	t.Run("readiness takes a pod out of its Service", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("readiness")
		sc.ok(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  replicas: 2
  selector:
    matchLabels: {app: backend}
  template:
    metadata:
      labels: {app: backend}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "touch /tmp/ready; mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          exec:
            command: ["cat", "/tmp/ready"]
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: backend
spec:
  selector: {app: backend}
  ports:
  - {port: 80, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
`, "apply", "-n", ns, "-f", "-")
		sc.waitReady(ns, "app=backend", 2)
		sc.eventually("client running", 60*time.Second, func() (bool, string) {
			out := sc.kubectl("", "get", "pod", "client", "-n", ns).stdout
			return regexp.MustCompile(`client\s+1/1\s+Running`).MatchString(out), out
		})
		names := strings.Fields(sc.ok("", "get", "pods", "-n", ns, "-l", "app=backend", "-o", "jsonpath={.items[*].metadata.name}"))
		if len(names) != 2 {
			t.Fatalf("backend pods %v", names)
		}
		gone, stays := names[0], names[1]
		goneIP := sc.ok("", "get", "pod", gone, "-n", ns, "-o", "jsonpath={.status.podIP}")
		stayIP := sc.ok("", "get", "pod", stays, "-n", ns, "-o", "jsonpath={.status.podIP}")
		endpoints := func(want ...string) {
			t.Helper()
			sc.eventually("endpoints "+strings.Join(want, ","), 60*time.Second, func() (bool, string) {
				out := sc.kubectl("", "get", "endpoints", "backend", "-n", ns).stdout
				for _, ip := range []string{goneIP, stayIP} {
					if strings.Contains(out, ip+":8080") != strings.Contains(strings.Join(want, " "), ip) {
						return false, out
					}
				}
				return true, out
			})
		}
		// Twenty requests through the cluster IP by the Service's name,
		// answered by the pods' host names.
		answers := func() []string {
			r := sc.kubectl("", "exec", "client", "-n", ns, "--", "sh", "-c", "for i in $(seq 20); do wget -q -O- http://backend/ || echo FAILED; done")
			return strings.Fields(r.stdout)
		}
		endpoints(goneIP, stayIP)
		sc.eventually("both backends answer", 60*time.Second, func() (bool, string) {
			got := answers()
			return slices.Contains(got, gone) && slices.Contains(got, stays), strings.Join(got, " ")
		})

		sc.ok("", "exec", gone, "-n", ns, "--", "rm", "/tmp/ready")
		sc.eventually(gone+" not ready", 60*time.Second, func() (bool, string) {
			out := sc.kubectl("", "get", "pod", gone, "-n", ns).stdout
			return regexp.MustCompile(gone + `\s+0/1\s+Running`).MatchString(out), out
		})
		endpoints(stayIP)
		contains(t, sc.ok("", "get", "endpoints", "backend", "-n", ns, "-o", "jsonpath={.subsets[*].notReadyAddresses[*].ip}"), goneIP)
		sc.eventually("all 20 answers from "+stays, 30*time.Second, func() (bool, string) {
			got := answers()
			return len(got) == 20 && strings.Count(strings.Join(got, " "), stays) == 20, strings.Join(got, " ")
		})

		sc.ok("", "exec", gone, "-n", ns, "--", "touch", "/tmp/ready")
		sc.waitReady(ns, "app=backend", 2)
		endpoints(goneIP, stayIP)
		sc.eventually("both backends answer again", 60*time.Second, func() (bool, string) {
			got := answers()
			return slices.Contains(got, gone) && slices.Contains(got, stays), strings.Join(got, " ")
		})
	})

	// Seed 004: `kubectl run` a client that fetches http://php-apache by
	// the Service's short name (a busybox httpd stands in for the
	// hpa-example image).
	t.Run("seed 004 wget php-apache", func(t *testing.T) {
		sc := sc.with(t)
		ns := sc.namespace("seed004")
		sc.ok(`apiVersion: v1
kind: ReplicationController
metadata:
  name: php-apache
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: php-apache}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: php-apache
        image: busybox
        command: ["sh", "-c", "mkdir -p /www; echo OK! > /www/index.html; exec httpd -f -p 80 -h /www"]
        ports:
        - containerPort: 80
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 1
`, "apply", "-n", ns, "-f", "-")
		contains(t, sc.ok("", "create", "-n", ns, "-f", "testdata/php-apache-svc.yaml"), "service/php-apache created")
		sc.waitReady(ns, "app=php-apache", 1)
		sc.eventually("endpoints of php-apache", 60*time.Second, func() (bool, string) {
			out := sc.kubectl("", "get", "endpoints", "php-apache", "-n", ns, "-o", "jsonpath={.subsets[*].addresses[*].ip}").stdout
			return out != "", out
		})
		// Not `run -i`: a client this quick can exit between kubectl seeing
		// it Running and attaching, and its output is then lost (so with
		// upstream's kubelet too); its log keeps it.
		sc.ok("", "run", "-n", ns, "--restart=Never", "--image=busybox", "load-generator", "--", "/bin/sh", "-c", "wget -q -O- http://php-apache")
		contains(t, sc.logsWhenDone(ns, "load-generator"), "OK!")
	})

	t.Run("seed 004 autoscaling walkthrough", func(t *testing.T) { testAutoscaleWalkthrough(sc.with(t)) })
	t.Run("seed 003 autoscaling/v1 HPA", func(t *testing.T) { testAutoscaleV1YAML(sc.with(t)) })
	t.Run("network policy default-deny then allow", func(t *testing.T) { testNetworkPolicy(sc.with(t)) })
	t.Run("ingress routes two hosts, one over TLS", func(t *testing.T) { testIngress(sc.with(t)) })
}

// hostResolvConf is what the node's resolv.conf gives a Default pod: its
// nameservers and its (last) search line, trailing dots dropped.
func hostResolvConf(t *testing.T) (servers, search []string) {
	t.Helper()
	read := func(path string) ([]string, []string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("the node's resolv.conf: %v", err)
		}
		var servers, search []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "nameserver":
				servers = append(servers, f[1])
			case len(f) >= 1 && f[0] == "search":
				search = nil
				for _, s := range f[1:] {
					if s != "." {
						search = append(search, strings.TrimSuffix(s, "."))
					}
				}
			}
		}
		return servers, search
	}
	servers, search = read("/etc/resolv.conf")
	loopback := len(servers) > 0
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err != nil || !a.IsLoopback() {
			loopback = false
		}
	}
	if _, err := os.Stat("/run/systemd/resolve/resolv.conf"); loopback && err == nil {
		servers, search = read("/run/systemd/resolve/resolv.conf")
	}
	if len(servers) > 3 {
		servers = servers[:3]
	}
	return servers, search
}

func envMap(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}
