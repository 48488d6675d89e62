// Package deploy checks the deployment files against what reads them: the
// Kubernetes manifests against the Kubernetes API types (strictly: an
// unknown or misspelt field fails), the Dockerfile with BuildKit's own
// parser, and the arguments every file passes to holdfast against the
// binary built from this checkout. It is a module of its own so that the
// server never depends on Kubernetes' packages:
//
//	cd deploy && go test ./...
package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// holdfast builds the binary from this checkout once.
var holdfast = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "holdfast-deploy-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "holdfast")
	out, err := exec.Command("go", "build", "-C", "..", "-o", bin, "./cmd/holdfast").CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// acceptsArgs fails t unless holdfast parses args (a subcommand and its
// flags): --help after them makes it stop once they parsed.
func acceptsArgs(t *testing.T, where string, args []string) {
	t.Helper()
	bin, err := holdfast()
	if err != nil {
		t.Fatalf("building holdfast: %v", err)
	}
	if out, err := exec.Command(bin, append(slices.Clone(args), "--help")...).CombinedOutput(); err != nil {
		t.Errorf("%s: holdfast refuses %q: %v\n%s", where, args, err, out)
	}
}

// TestKubernetesManifests decodes every document of deploy/kubernetes
// strictly into its API type and checks what Holdfast needs of it.
func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			kinds[head.Kind]++
			var pod *corev1.PodSpec
			switch head.APIVersion + " " + head.Kind {
			case "v1 Service":
				var s corev1.Service
				strict(t, f, i, doc, &s)
			case "apps/v1 StatefulSet":
				var s appsv1.StatefulSet
				strict(t, f, i, doc, &s)
				if *s.Spec.Replicas != 1 {
					t.Errorf("%s: the embedded store takes exactly one server, not %d", f, *s.Spec.Replicas)
				}
				pod = &s.Spec.Template.Spec
			case "apps/v1 Deployment":
				var d appsv1.Deployment
				strict(t, f, i, doc, &d)
				if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
					t.Errorf("%s: a rolling update must not take a node away before its successor is ready", f)
				}
				pod = &d.Spec.Template.Spec
			case "policy/v1 PodDisruptionBudget":
				var p policyv1.PodDisruptionBudget
				strict(t, f, i, doc, &p)
			case "batch/v1 CronJob":
				var c batchv1.CronJob
				strict(t, f, i, doc, &c)
				for _, ct := range c.Spec.JobTemplate.Spec.Template.Spec.Containers {
					acceptsArgs(t, f, ct.Args)
				}
			default:
				t.Errorf("%s document %d: unexpected %s %s", f, i, head.APIVersion, head.Kind)
			}
			if pod != nil {
				checkPod(t, f, pod)
			}
		}
		if kinds["Service"] != 1 {
			t.Errorf("%s: want one Service, have %d", f, kinds["Service"])
		}
	}
}

func strict(t *testing.T, file string, i int, doc []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		t.Errorf("%s document %d: %v", file, i, err)
	}
}

// checkPod: non-root, read-only, probes on the endpoints holdfast serves,
// and arguments holdfast accepts.
func checkPod(t *testing.T, file string, pod *corev1.PodSpec) {
	t.Helper()
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: the pod must run as non-root", file)
	}
	for _, c := range pod.Containers {
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s: want a read-only root and no privilege escalation", file, c.Name)
		}
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[name]
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want {
				t.Errorf("%s: container %s: want a %s probe on %s", file, c.Name, name, want)
			}
		}
		acceptsArgs(t, file, c.Args)
	}
}

// TestDockerfile parses the Dockerfile as BuildKit does and checks the
// image's contract: a pinned Go as go.mod asks, a non-root user, the /data
// volume, a health check holdfast answers, and a command it accepts.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(mod)[1]
	var from []string
	var user, volume, health, entry, cmd []string
	for _, n := range res.AST.Children {
		var args []string
		for a := n.Next; a != nil; a = a.Next {
			args = append(args, a.Value)
		}
		switch strings.ToLower(n.Value) {
		case "from":
			from = append(from, args[0])
		case "user":
			user = args
		case "volume":
			volume = args
		case "healthcheck":
			health = args
		case "entrypoint":
			entry = args
		case "cmd":
			cmd = args
		}
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "golang:"+string(goVersion)) {
		t.Errorf("want two stages, the first on golang:%s (go.mod's): %v", goVersion, from)
	}
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("USER %v: want a non-root user", user)
	}
	if !slices.Contains(volume, "/data") {
		t.Errorf("VOLUME %v: want /data", volume)
	}
	if len(entry) != 1 || len(health) < 2 || health[0] != "CMD" || health[1] != entry[0] {
		t.Fatalf("HEALTHCHECK %v: want holdfast's own probe (%v)", health, entry)
	}
	acceptsArgs(t, "HEALTHCHECK", health[2:])
	acceptsArgs(t, "CMD", cmd)
}

// TestSystemdUnit checks the unit with systemd's own verifier where it is
// installed, and that holdfast accepts its ExecStart.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("systemd/holdfast.service")
	if err != nil {
		t.Fatal(err)
	}
	exec1 := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindSubmatch(data)
	if exec1 == nil {
		t.Fatal("no ExecStart")
	}
	args := strings.Fields(strings.ReplaceAll(string(exec1[2]), "${STATE_DIRECTORY}", "/var/lib/holdfast"))
	acceptsArgs(t, "ExecStart", args)
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "StateDirectory=holdfast"} {
		if !bytes.Contains(data, []byte("\n"+want+"\n")) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's syntax is not checked")
	}
	bin, err := holdfast()
	if err != nil {
		t.Fatal(err)
	}
	// The verifier wants ExecStart's binary to exist.
	unit := filepath.Join(t.TempDir(), "holdfast.service")
	os.WriteFile(unit, bytes.ReplaceAll(data, exec1[1], []byte(bin)), 0o644)
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// definedMetrics are the metric names the server's code defines.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`"(holdfast_[a-z_]+)"`)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "bench" || d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

var metricRef = regexp.MustCompile(`\bholdfast_[a-z_]+`)

// checkExpr: every Holdfast metric an expression names is one the server
// defines (a histogram's _bucket, _count and _sum included), and its
// brackets balance.
func checkExpr(t *testing.T, where, expr string, defined map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllString(expr, -1) {
		base := m
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && defined[b] {
				base = b
			}
		}
		if !defined[base] {
			t.Errorf("%s: %s is not a metric the server defines", where, m)
		}
	}
	depth, closedEarly := 0, false
	for _, r := range expr {
		switch r {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		}
		closedEarly = closedEarly || depth < 0
	}
	if depth != 0 || closedEarly {
		t.Errorf("%s: unbalanced brackets in %s", where, expr)
	}
}

// TestAlertRules: the rules file is Prometheus' format, each rule has a
// severity, a summary and a valid for, and names only metrics that exist.
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		t.Fatal(err)
	}
	defined := definedMetrics(t)
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: want alert, expr, labels.severity and annotations.summary", r.Alert)
			}
			if r.For != "" && !regexp.MustCompile(`^[0-9]+[smh]$`).MatchString(r.For) {
				t.Errorf("rule %s: for %q is not a Prometheus duration", r.Alert, r.For)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, defined)
		}
	}
	for _, want := range []string{"holdfast_feed_stale", "holdfast_outbox_oldest_pending_age_seconds", "holdfast_rule_errors_total", "holdfast-audit-verify"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("no alert on %s", want)
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// TestGrafanaDashboard: the dashboard is JSON Grafana reads, every panel
// queries, and every query names metrics that exist.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/holdfast.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels")
	}
	defined := definedMetrics(t)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			checkExpr(t, "panel "+p.Title, q.Expr, defined)
		}
	}
}
