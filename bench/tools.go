package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Tool is a downloader the suite can run: bulkget or a peer.
type Tool struct {
	Name    string // as shown in the table
	Binary  string // executable looked up on PATH (bulkget: built by the suite)
	Package string // Debian package that installs it
	// Mirrors: the tool takes several URLs for one file. The mirrored
	// scenarios skip the others.
	Mirrors bool
	// plan writes the tool's input files into p.Work and returns the
	// processes to run one after the other, and the command line to show.
	plan func(p *Plan) ([]Invocation, string, error)
}

// Invocation is one process of a tool run.
type Invocation struct {
	Args []string // Args[0] is the executable
	File string   // the one file it downloads; "" for every file
}

// Plan is what a tool needs to know to download a scenario.
type Plan struct {
	Scenario Scenario
	Files    []File
	URL      func(name string) string
	Bin      string // the executable
	Work     string // a fresh folder for input files (also the tool's HOME)
	Dir      string // the output folder, empty
	CAFile   string // PEM file trusting the origin; "" over plain HTTP
	// Mirrors, in a mirrored scenario, returns the URLs of a file on the
	// sources after the primary (whose URL is URL's), in order; nil
	// otherwise.
	Mirrors func(name string) []string
}

// Tools returns bulkget and the peers, in table order.
func Tools() []Tool {
	return []Tool{
		{Name: "bulkget", Binary: "bulkget", Mirrors: true, plan: planBulkget},
		{Name: "aria2c", Binary: "aria2c", Package: "aria2", Mirrors: true, plan: planAria2},
		{Name: "wget2", Binary: "wget2", Package: "wget2", plan: planWget2},
		{Name: "axel", Binary: "axel", Package: "axel", Mirrors: true, plan: planAxel},
		{Name: "curl", Binary: "curl", Package: "curl", plan: planCurl},
	}
}

// BulkgetVariant is bulkget run with exactly args (and no -c from the
// scenario's budget), named "bulkget ARGS", or "bulkget (no flags)" for
// none: for comparing -c auto with fixed settings side by side.
func BulkgetVariant(args []string) Tool {
	name := "bulkget (no flags)"
	if len(args) > 0 {
		name = "bulkget " + strings.Join(args, " ")
	}
	args = slices.Clone(args)
	return Tool{Name: name, Binary: "bulkget", Mirrors: true, plan: func(p *Plan) ([]Invocation, string, error) {
		return planBulkgetWith(p, args)
	}}
}

// InstallHint is the command that installs every peer.
const InstallHint = "apt-get install -y aria2 wget2 axel curl"

// show renders a command line for the table's footnotes, with the run's
// temporary paths replaced by placeholders.
func (p *Plan) show(args []string) string {
	r := strings.NewReplacer(p.Dir, "DIR", p.Work+string(filepath.Separator), "", p.Bin, filepath.Base(p.Bin))
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return strings.Join(out, " ")
}

func (p *Plan) writeInput(name, text string) (string, error) {
	path := filepath.Join(p.Work, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("bench: write %s: %w", name, err)
	}
	return path, nil
}

// sources returns every URL of a file, the primary's first.
func (p *Plan) sources(name string) []string {
	urls := []string{p.URL(name)}
	if p.Mirrors != nil {
		urls = append(urls, p.Mirrors(name)...)
	}
	return urls
}

func (p *Plan) urlList() string {
	var b strings.Builder
	for _, f := range p.Files {
		b.WriteString(p.URL(f.Name))
		b.WriteByte('\n')
	}
	return b.String()
}

func planBulkget(p *Plan) ([]Invocation, string, error) {
	list, err := p.writeInput("LIST.csv", bulkgetList(p))
	if err != nil {
		return nil, "", err
	}
	args := []string{p.Bin, "--progress", "none", "-c", strconv.Itoa(p.Scenario.Conns()), "-d", p.Dir}
	args = append(append(args, p.Scenario.BulkgetArgs...), list)
	return []Invocation{{Args: args}}, p.show(args), nil
}

func planBulkgetWith(p *Plan, extra []string) ([]Invocation, string, error) {
	list, err := p.writeInput("LIST.csv", bulkgetList(p))
	if err != nil {
		return nil, "", err
	}
	args := append([]string{p.Bin, "--progress", "none", "-d", p.Dir}, extra...)
	args = append(args, list)
	return []Invocation{{Args: args}}, p.show(args), nil
}

// bulkgetList is bulkget's list: a header, then filename,url per file,
// and in a mirrored scenario a mirrors column with the other sources'
// URLs separated by spaces (issue 21). A bulkget that predates the column
// ignores it, as it does every column it does not know.
func bulkgetList(p *Plan) string {
	var b strings.Builder
	b.WriteString("filename,url")
	if p.Mirrors != nil {
		b.WriteString(",mirrors")
	}
	b.WriteByte('\n')
	for _, f := range p.Files {
		fmt.Fprintf(&b, "%s,%s", f.Name, p.URL(f.Name))
		if p.Mirrors != nil {
			fmt.Fprintf(&b, ",%s", strings.Join(p.Mirrors(f.Name), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// aria2Split divides the budget between files: -j files at once, each with
// -x connections (aria2c allows at most 16), so that j × x ≤ budget.
func aria2Split(files, budget int) (j, x int) {
	j = max(1, min(files, budget))
	x = min(16, max(1, budget/j))
	return j, x
}

// aria2Input is aria2c's input file: one URL per line, or in a mirrored
// scenario every URL of a file on one line separated by TABs (aria2c takes
// the URIs of one line as mirrors of one file) and an indented out= line
// naming it.
func aria2Input(p *Plan) string {
	if p.Mirrors == nil {
		return p.urlList()
	}
	var b strings.Builder
	for _, f := range p.Files {
		fmt.Fprintf(&b, "%s\n out=%s\n", strings.Join(p.sources(f.Name), "\t"), f.Name)
	}
	return b.String()
}

// planAria2 gives aria2c the budget as -j files at once with -s
// connections each (spread over a file's mirrors, at most -x to one
// host). With mirrors it gets --uri-selector=adaptive, which aria2c's
// manual offers for choosing among mirrors by the speed seen; feedback
// (the default) and inorder did as well on the mirror scenarios (1.36.0,
// all three within 1.01-1.10 × of the ideal, one run each).
func planAria2(p *Plan) ([]Invocation, string, error) {
	input, err := p.writeInput("INPUT", aria2Input(p))
	if err != nil {
		return nil, "", err
	}
	j, x := aria2Split(len(p.Files), p.Scenario.Conns())
	args := []string{p.Bin, "-i", input, "-d", p.Dir,
		"-j", strconv.Itoa(j), "-x", strconv.Itoa(x), "-s", strconv.Itoa(x), "-k", "1M",
		"--file-allocation=none", "--console-log-level=warn", "--summary-interval=0", "--show-console-readout=false",
		"--allow-overwrite=true", "--auto-file-renaming=false",
		"--max-tries=5", "--retry-wait=1", "--download-result=hide"}
	if p.Mirrors != nil {
		args = append(args, "--uri-selector=adaptive")
	}
	if p.CAFile != "" {
		args = append(args, "--ca-certificate="+p.CAFile)
	}
	return []Invocation{{Args: args}}, p.show(args), nil
}

// planWget2 gives wget2 one connection per file, as curl: its
// --chunk-size (1.99.1) fetches the chunks of a file one at a time, which
// is slower than whole files in parallel, and over HTTPS (HTTP/2) did not
// finish a quarter-size capped-large in 3 minutes.
func planWget2(p *Plan) ([]Invocation, string, error) {
	input, err := p.writeInput("URLS", p.urlList())
	if err != nil {
		return nil, "", err
	}
	args := []string{p.Bin, "--max-threads=" + strconv.Itoa(p.Scenario.Conns()), "-i", input,
		"-P", p.Dir, "-nd", "--no-verbose", "--tries=5"}
	if p.CAFile != "" {
		args = append(args, "--ca-certificate="+p.CAFile)
	}
	return []Invocation{{Args: args}}, p.show(args), nil
}

func planCurl(p *Plan) ([]Invocation, string, error) {
	var b strings.Builder
	for _, f := range p.Files {
		fmt.Fprintf(&b, "url = \"%s\"\noutput = \"%s\"\n", p.URL(f.Name), filepath.Join(p.Dir, f.Name))
	}
	config, err := p.writeInput("CONFIG", b.String())
	if err != nil {
		return nil, "", err
	}
	args := []string{p.Bin, "--parallel", "--parallel-immediate", "--parallel-max", strconv.Itoa(p.Scenario.Conns()),
		"--fail", "--retry", "5", "--retry-all-errors", "--silent", "--show-error"}
	if p.CAFile != "" {
		args = append(args, "--cacert", p.CAFile)
	}
	args = append(args, "-K", config)
	return []Invocation{{Args: args}}, p.show(args), nil
}

// planAxel runs axel once per file, one after the other: axel takes no
// list. In a mirrored scenario it gets every URL of the file, which it
// takes as mirrors and spreads its connections over. Over HTTPS it gets -k: it has no CA option, and although it finds
// the CA through SSL_CERT_FILE, its host name check fails against a
// certificate for 127.0.0.1 (2.17.11: "Hostname verification failed").
func planAxel(p *Plan) ([]Invocation, string, error) {
	flags := []string{"-q", "-n", strconv.Itoa(p.Scenario.Conns())}
	if p.CAFile != "" {
		flags = append(flags, "-k")
	}
	invs := make([]Invocation, len(p.Files))
	for i, f := range p.Files {
		args := append([]string{p.Bin}, flags...)
		args = append(args, "-o", filepath.Join(p.Dir, f.Name))
		invs[i] = Invocation{Args: append(args, p.sources(f.Name)...), File: f.Name}
	}
	urls := "URL"
	if p.Mirrors != nil {
		urls = "URL MIRROR..."
	}
	return invs, "for each file: axel " + strings.Join(flags, " ") + " -o DIR/NAME " + urls, nil
}
