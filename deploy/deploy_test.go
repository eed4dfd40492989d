// Package deploy holds the container image and Kubernetes definitions. Its
// tests check them without a cluster or a Docker engine: the manifests are
// decoded strictly (an unknown or misspelt field is an error) and checked
// against what bulkget needs, and the flags they pass are checked against
// the real binary's --help.
package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkget/bulkget/manifest"
	"gopkg.in/yaml.v3"
)

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type podSpec struct {
	RestartPolicy                 string      `yaml:"restartPolicy"`
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               podSecurity `yaml:"securityContext"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []volume    `yaml:"volumes"`
}

type podSecurity struct {
	RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
	RunAsUser      *int  `yaml:"runAsUser"`
	RunAsGroup     *int  `yaml:"runAsGroup"`
	FSGroup        *int  `yaml:"fsGroup"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name                  string `yaml:"name"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		CompletionMode       string `yaml:"completionMode"`
		Completions          *int   `yaml:"completions"`
		Parallelism          *int   `yaml:"parallelism"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		PodFailurePolicy     struct {
			Rules []struct {
				Action      string `yaml:"action"`
				OnExitCodes *struct {
					ContainerName string `yaml:"containerName"`
					Operator      string `yaml:"operator"`
					Values        []int  `yaml:"values"`
				} `yaml:"onExitCodes"`
				OnPodConditions []struct {
					Type string `yaml:"type"`
				} `yaml:"onPodConditions"`
			} `yaml:"rules"`
		} `yaml:"podFailurePolicy"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type pod struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   meta    `yaml:"metadata"`
	Spec       podSpec `yaml:"spec"`
}

type pvc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type configMap struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   meta              `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

// decode reads one YAML document strictly into v.
func decode(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		t.Fatalf("%s: more than one document", name)
	}
}

// argValue returns the argument after flag, which must appear once.
func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	at := -1
	for i, a := range args {
		if a == flag {
			if at >= 0 {
				t.Fatalf("%s appears twice in %q", flag, args)
			}
			at = i
		}
	}
	if at < 0 || at+1 >= len(args) {
		t.Fatalf("args %q lack %s VALUE", args, flag)
	}
	return args[at+1]
}

// under reports whether p is mountPath or inside it.
func under(p, mountPath string) bool {
	return p == mountPath || strings.HasPrefix(path.Clean(p), strings.TrimSuffix(mountPath, "/")+"/")
}

func TestKubernetesJob(t *testing.T) {
	var j job
	decode(t, "job.yaml", &j)
	var claim pvc
	decode(t, "pvc.yaml", &claim)
	var list configMap
	decode(t, "configmap.yaml", &list)

	if j.APIVersion != "batch/v1" || j.Kind != "Job" {
		t.Errorf("job.yaml is %s %s, want batch/v1 Job", j.APIVersion, j.Kind)
	}
	s := j.Spec
	if s.CompletionMode != "Indexed" {
		t.Errorf("completionMode %q, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions < 1 {
		t.Fatalf("completions must be set and positive")
	}
	n := *s.Completions
	if s.Parallelism == nil || *s.Parallelism < 1 || *s.Parallelism > n {
		t.Errorf("parallelism must be from 1 to completions (%d)", n)
	}
	if s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex < 1 {
		t.Errorf("backoffLimitPerIndex must be set, so that a failed shard is retried")
	}
	failsOnUsage := false
	for _, r := range s.PodFailurePolicy.Rules {
		if r.Action == "FailIndex" && r.OnExitCodes != nil && r.OnExitCodes.Operator == "In" &&
			r.OnExitCodes.ContainerName == "bulkget" && len(r.OnExitCodes.Values) == 1 && r.OnExitCodes.Values[0] == 2 {
			failsOnUsage = true
		}
		if r.OnExitCodes != nil {
			for _, v := range r.OnExitCodes.Values {
				if v == 1 || v == 130 {
					// 1 (some files failed) and 130 (interrupted) must be
					// retried: the retry resumes.
					t.Errorf("podFailurePolicy rule %q catches exit %d", r.Action, v)
				}
			}
		}
	}
	if !failsOnUsage {
		t.Errorf("podFailurePolicy should FailIndex on exit 2 (usage error: retrying cannot help)")
	}

	p := s.Template.Spec
	if p.RestartPolicy != "Never" {
		t.Errorf("restartPolicy %q: backoffLimitPerIndex and podFailurePolicy need Never", p.RestartPolicy)
	}
	checkNonRoot(t, "job.yaml", p)
	if len(p.Containers) != 1 || p.Containers[0].Name != "bulkget" {
		t.Fatalf("want one container named bulkget")
	}
	c := p.Containers[0]
	if c.Image == "" || len(c.Command) != 0 {
		t.Errorf("the container must use the image's entrypoint (bulkget) with args only")
	}

	// The shard count is the completion count, and the index comes from
	// Kubernetes.
	if got, want := argValue(t, c.Args, "--shard"), "index/"+strconv.Itoa(n); got != want {
		t.Errorf("--shard %s, want %s (completions is %d)", got, want, n)
	}
	// Kubernetes expands $(VAR) in args only for variables the container
	// declares; anything else would be passed on literally.
	declared := map[string]bool{}
	for _, e := range c.Env {
		declared[e.Name] = true
		if e.Name == "JOB_COMPLETION_INDEX" && (e.ValueFrom == nil ||
			e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']") {
			t.Errorf("JOB_COMPLETION_INDEX must come from the job-completion-index annotation")
		}
	}
	for _, a := range c.Args {
		for _, m := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(a, -1) {
			if !declared[m[1]] {
				t.Errorf("arg %q uses $(%s), which the container does not declare", a, m[1])
			}
		}
	}

	mounts := map[string]string{} // volume name → mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var dataVol, listVol string
	for _, v := range p.Volumes {
		if _, ok := mounts[v.Name]; !ok {
			t.Errorf("volume %s is not mounted", v.Name)
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			dataVol = v.Name
			if v.PersistentVolumeClaim.ClaimName != claim.Metadata.Name {
				t.Errorf("claimName %q, but pvc.yaml names %q", v.PersistentVolumeClaim.ClaimName, claim.Metadata.Name)
			}
		case v.ConfigMap != nil:
			listVol = v.Name
			if v.ConfigMap.Name != list.Metadata.Name {
				t.Errorf("configMap %q, but configmap.yaml names %q", v.ConfigMap.Name, list.Metadata.Name)
			}
		}
	}
	if dataVol == "" || listVol == "" {
		t.Fatalf("want a PersistentVolumeClaim volume and a ConfigMap volume")
	}
	// Everything written goes to the claim, which outlives the pods: that
	// is what a retried pod resumes from.
	for _, flag := range []string{"--dir", "--summary"} {
		if v := argValue(t, c.Args, flag); !under(v, mounts[dataVol]) || !strings.Contains(v, "$(JOB_COMPLETION_INDEX)") {
			t.Errorf("%s %s: want a per-shard path on the volume mounted at %s", flag, v, mounts[dataVol])
		}
	}
	last := c.Args[len(c.Args)-1]
	key := strings.TrimPrefix(last, strings.TrimSuffix(mounts[listVol], "/")+"/")
	if _, ok := list.Data[key]; !ok || key == last {
		t.Errorf("the list argument %s is not a key of the ConfigMap mounted at %s", last, mounts[listVol])
	}
	entries, bad, err := manifest.ReadAll(strings.NewReader(list.Data[key]))
	if err != nil || len(bad) > 0 || len(entries) == 0 {
		t.Errorf("the example list does not read cleanly: %d entries, bad %v, %v", len(entries), bad, err)
	}

	if !contains(claim.Spec.AccessModes, "ReadWriteMany") {
		t.Errorf("the claim's accessModes %v lack ReadWriteMany, but pods on several nodes mount it", claim.Spec.AccessModes)
	}

	checkFlagsExist(t, c.Args)
}

func TestKubernetesCollectPod(t *testing.T) {
	var j job
	decode(t, "job.yaml", &j)
	var p pod
	decode(t, "collect.yaml", &p)
	checkNonRoot(t, "collect.yaml", p.Spec)
	// Summaries are readable by their owner only.
	if ju, pu := j.Spec.Template.Spec.SecurityContext.RunAsUser, p.Spec.SecurityContext.RunAsUser; *ju != *pu {
		t.Errorf("collect pod runs as %d, the Job as %d: it could not read the summaries", *pu, *ju)
	}
	var claim string
	for _, v := range j.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	found := false
	for _, v := range p.Spec.Volumes {
		found = found || v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim
	}
	if !found {
		t.Errorf("the collect pod does not mount the Job's claim %q", claim)
	}
}

func checkNonRoot(t *testing.T, file string, p podSpec) {
	t.Helper()
	sc := p.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a non-root user (runAsNonRoot, runAsUser)", file)
	}
	for _, c := range p.Containers {
		if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s must set allowPrivilegeEscalation: false", file, c.Name)
		}
		if !contains(c.SecurityContext.Capabilities.Drop, "ALL") {
			t.Errorf("%s: container %s must drop all capabilities", file, c.Name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkFlagsExist builds bulkget and checks that every option the Job passes
// is one its --help lists, so renaming a flag cannot leave the manifest
// behind.
func checkFlagsExist(t *testing.T, args []string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bulkget")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/bulkget").CombinedOutput(); err != nil {
		t.Fatalf("build bulkget: %v\n%s", err, out)
	}
	help, err := exec.Command(bin, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--") && !regexp.MustCompile(`(^|[ ,])`+regexp.QuoteMeta(a)+`\b`).Match(help) {
			t.Errorf("the Job passes %s, which bulkget --help does not list", a)
		}
	}
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, runs []string
	var user, entrypoint string
	var copiesBuild bool
	sc := bufio.NewScanner(f)
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		// Join continuation lines into one instruction.
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = cont+line, ""
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			runs = append(runs, rest)
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "COPY":
			copiesBuild = copiesBuild || strings.Contains(rest, "--from=build")
		}
	}
	if len(froms) < 2 || !strings.Contains(froms[0], " AS build") {
		t.Errorf("want a multi-stage build starting with a stage named build; FROM lines: %q", froms)
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage is %q, want distroless/static (CA certificates included) or scratch", final)
	}
	static := false
	for _, r := range runs {
		static = static || strings.Contains(r, "CGO_ENABLED=0") && strings.Contains(r, "go build") && strings.Contains(r, "./cmd/bulkget")
	}
	if !static {
		t.Errorf("no RUN builds ./cmd/bulkget with CGO_ENABLED=0")
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q, want a non-root user", user)
	}
	if !copiesBuild || !strings.Contains(entrypoint, "bulkget") {
		t.Errorf("the final stage must copy the binary from the build stage and run it (ENTRYPOINT %q)", entrypoint)
	}

	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(ignore), "\n") {
		l = strings.TrimSpace(l)
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "*.go", "**/*.go"} {
			if l == needed || l == "/"+needed {
				t.Errorf(".dockerignore leaves out %s, which the build needs", needed)
			}
		}
	}
}
