package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/bulkget/bulkget/httpclient"
	"github.com/bulkget/bulkget/internal/netrc"
	"github.com/bulkget/bulkget/scheduler"
	"github.com/urfave/cli/v2"
)

const catCredentials = "Credentials"

// credentialFlags are the options about who we are to the servers: netrc
// passwords and TLS certificates.
func credentialFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "netrc-file", Category: catCredentials, EnvVars: env("NETRC_FILE"), TakesFile: true,
			Usage: "read Basic credentials per host from FILE (default: $NETRC, else ~/.netrc when it exists); never sent to another host after a redirect"},
		&cli.BoolFlag{Name: "no-netrc", Category: catCredentials, EnvVars: env("NO_NETRC"),
			Usage: "read no netrc file"},
		&cli.StringFlag{Name: "ca-cert", Category: catCredentials, EnvVars: env("CA_CERT"), TakesFile: true,
			Usage: "trust the CA certificates in FILE (PEM) as well as the system's"},
		&cli.StringFlag{Name: "cert", Category: catCredentials, EnvVars: env("CERT"), TakesFile: true,
			Usage: "client certificate (PEM) for servers that require one; its key too unless --key is given"},
		&cli.StringFlag{Name: "key", Category: catCredentials, EnvVars: env("KEY"), TakesFile: true,
			Usage: "private key (PEM, not encrypted) of the --cert certificate"},
	}
}

// credentials reads the credential flags into o. A netrc file that others
// may read is used, as curl does, with a warning to warn. Errors name the
// files and never hold their content.
func credentials(c *cli.Context, o *scheduler.Options, warn io.Writer) error {
	rc, err := loadNetrc(c.String("netrc-file"), c.Bool("no-netrc"), os.Getenv)
	if err != nil {
		return err
	}
	if rc != nil && rc.Exposed {
		fmt.Fprintf(warn, "bulkget: warning: %s can be read by other users, and it holds passwords (chmod 600 %s)\n", rc.Name, rc.Name)
	}
	if rc != nil && (len(rc.Machines) > 0 || rc.Default != nil) {
		o.Netrc = rc
	}
	if f := c.String("ca-cert"); f != "" {
		if o.RootCAs, err = httpclient.LoadCACerts(f); err != nil {
			return fmt.Errorf("--ca-cert: %w", err)
		}
	}
	cert, key := c.String("cert"), c.String("key")
	switch {
	case key != "" && cert == "":
		return errors.New("--key needs --cert: the certificate the key belongs to")
	case cert != "":
		if o.ClientCert, err = httpclient.LoadClientCert(cert, key); err != nil {
			return fmt.Errorf("--cert: %w", err)
		}
	}
	return nil
}

// loadNetrc finds and reads the netrc file: --netrc-file, else $NETRC,
// else ~/.netrc if there is one. A file the user named must exist.
func loadNetrc(file string, off bool, getenv func(string) string) (*netrc.File, error) {
	switch {
	case off && file != "":
		return nil, errors.New("--netrc-file and --no-netrc contradict each other")
	case off:
		return nil, nil
	case file != "":
		rc, err := netrc.Load(file)
		if err != nil {
			return nil, fmt.Errorf("--netrc-file: %w", err)
		}
		return rc, nil
	}
	path, explicit, err := netrc.Path(getenv)
	if err != nil {
		return nil, nil // no home folder: no netrc, as curl
	}
	rc, err := netrc.Load(path)
	switch {
	case err == nil:
		return rc, nil
	case explicit:
		return nil, fmt.Errorf("NETRC: %w", err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	}
	return nil, fmt.Errorf("%w (--no-netrc ignores it)", err)
}
