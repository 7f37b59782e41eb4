package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

const usersDoc = `Users manages organizations and their users in a data directory's database
(or the PostgreSQL store of --store or POLLEN_STORE, as pollen serve's):
each user has a User secret and each organization an Organization secret, and a
client sends both ('Authorization: User <secret>, Organization <secret>'). Secrets
are printed once, when they are made, and kept as digests only.

  pollen users create --email E [--org NAME] [--admin] [--first-name F] [--last-name L]
                     a user of organization NAME (created, with its secret, when new;
                     default: "default", the bootstrap admin's)
  pollen users list   every organization and user
  pollen users disable USER / enable USER
                     USER is an id or an email; a disabled user's secrets stop working
  pollen users rotate USER          a new User secret
  pollen users rotate --org NAME    a new Organization secret (every client of it must change)
  pollen users secret               print a random secret, for POLLEN_USER_SECRET and the like

It may run while 'pollen serve' does: changes take effect at the next request.`

func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "usage: pollen users <create|list|disable|enable|rotate|secret> [flags]\n\n%s\n", usersDoc)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	sub, args := args[0], args[1:]
	if sub == "secret" {
		fmt.Fprintln(stdout, tenants.NewSecret())
		return cli.ExitOK
	}
	fs := cli.NewFlags("pollen users "+sub, "[flags]", usersDoc, stderr)
	dataDir := fs.String("data-dir", "pollen-data", "`directory` of the database")
	storeURL := fs.String("store", "", "`URL` of the PostgreSQL store, as pollen serve's --store (default: POLLEN_STORE; neither: the SQLite file in --data-dir)")
	var email, org, first, last string
	var admin bool
	switch sub {
	case "create":
		fs.StringVar(&email, "email", "", "the user's email (their name for Pollen)")
		fs.StringVar(&org, "org", "default", "the user's organization, by name or id; created when new")
		fs.BoolVar(&admin, "admin", false, "make the user an administrator of the organization (org-admin)")
		fs.StringVar(&first, "first-name", "", "the user's first name")
		fs.StringVar(&last, "last-name", "", "the user's last name")
	case "rotate":
		fs.StringVar(&org, "org", "", "rotate this organization's secret instead of a user's")
	case "list", "disable", "enable":
	default:
		fmt.Fprintf(stderr, "pollen users: unknown subcommand %q\n", sub)
		return cli.ExitUsage
	}
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if *storeURL == "" {
		*storeURL = os.Getenv("POLLEN_STORE")
	}
	store, err := server.OpenStore(ctx, *storeURL, *dataDir, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "pollen users: %v\n", err)
		return cli.ExitFail
	}
	defer store.Close()
	svc, err := tenants.New(tenants.Options{Store: store})
	if err != nil {
		fmt.Fprintf(stderr, "pollen users: %v\n", err)
		return cli.ExitFail
	}
	u := usersCmd{ctx: ctx, svc: svc, out: stdout}
	switch sub {
	case "create":
		err = u.create(email, org, first, last, admin)
	case "list":
		err = u.list()
	case "disable", "enable":
		err = u.setActive(fs, sub == "enable")
	case "rotate":
		err = u.rotate(fs, org)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pollen users %s: %v\n", sub, err)
		if errors.Is(err, errUsage) {
			return cli.ExitUsage
		}
		return cli.ExitFail
	}
	return cli.ExitOK
}

var errUsage = errors.New("usage")

type usersCmd struct {
	ctx context.Context
	svc *tenants.Service
	out io.Writer
}

func (u usersCmd) create(email, orgRef, first, last string, admin bool) error {
	if email == "" {
		return fmt.Errorf("--email is required: %w", errUsage)
	}
	o, err := u.svc.Organization(u.ctx, orgRef)
	if errors.Is(err, engine.ErrNotFound) {
		var secret string
		if o, secret, err = u.svc.CreateOrganization(u.ctx, orgRef); err != nil {
			return err
		}
		fmt.Fprintf(u.out, "organization %d %s created\nOrganization secret: %s\n", o.ID, o.Name, secret)
	} else if err != nil {
		return err
	}
	role := engine.RoleUser
	if admin {
		role = engine.RoleOrgAdmin
	}
	usr, secret, err := u.svc.CreateUser(u.ctx, nil, tenants.UserSpec{OrganizationID: o.ID, Email: email, FirstName: first, LastName: last, Role: role})
	if err != nil {
		return err
	}
	fmt.Fprintf(u.out, "user %d %s (%s) created in organization %s\nUser secret: %s\n", usr.ID, usr.Email, usr.Role, o.Name, secret)
	fmt.Fprintln(u.out, "The secrets are shown this once; Pollen keeps only their digests.")
	return nil
}

func (u usersCmd) list() error {
	orgs, err := u.svc.Organizations(u.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(u.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ORG\tUSER\tEMAIL\tROLE\tACTIVE")
	for _, o := range orgs {
		users, err := u.svc.Users(u.ctx, nil, o.ID)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			fmt.Fprintf(w, "%d %s\t-\t-\t-\t-\n", o.ID, o.Name)
		}
		for _, usr := range users {
			fmt.Fprintf(w, "%d %s\t%d\t%s\t%s\t%v\n", o.ID, o.Name, usr.ID, usr.Email, usr.Role, usr.Active)
		}
	}
	return w.Flush()
}

func (u usersCmd) user(fs *flag.FlagSet) (*engine.User, error) {
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("name one user, by id or email: %w", errUsage)
	}
	return u.svc.FindUser(u.ctx, fs.Arg(0))
}

func (u usersCmd) setActive(fs *flag.FlagSet, active bool) error {
	usr, err := u.user(fs)
	if err != nil {
		return err
	}
	if _, err := u.svc.UpdateUser(u.ctx, nil, usr.ID, tenants.UserPatch{Active: &active}); err != nil {
		return err
	}
	state := "disabled"
	if active {
		state = "enabled"
	}
	fmt.Fprintf(u.out, "user %d %s %s\n", usr.ID, usr.Email, state)
	return nil
}

func (u usersCmd) rotate(fs *flag.FlagSet, orgRef string) error {
	if orgRef != "" {
		if fs.NArg() != 0 {
			return fmt.Errorf("name a user or --org, not both: %w", errUsage)
		}
		o, err := u.svc.Organization(u.ctx, orgRef)
		if err != nil {
			return err
		}
		secret, err := u.svc.RotateOrganizationSecret(u.ctx, nil, o.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(u.out, "Organization secret of %s: %s\n", o.Name, secret)
		if o.ID == tenants.BootstrapOrganizationID {
			fmt.Fprintln(u.out, "Organization 1's secret is set again from POLLEN_ORGANIZATION_SECRET (or secrets.json) at the next start of serve: change it there too.")
		}
		return nil
	}
	usr, err := u.user(fs)
	if err != nil {
		return err
	}
	secret, err := u.svc.RotateUserSecret(u.ctx, nil, usr.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(u.out, "User secret of %s: %s\n", usr.Email, secret)
	if usr.ID == tenants.BootstrapUserID {
		fmt.Fprintln(u.out, "User 1's secret is set again from POLLEN_USER_SECRET (or secrets.json) at the next start of serve: change it there too.")
	}
	return nil
}
