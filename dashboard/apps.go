package dashboard

import (
	"context"

	"github.com/switchboard-rt/switchboard/tenants"
)

// The rules for making and changing an app, shared by the management API
// and the web UI so that both surfaces accept exactly the same apps.

// appWriter is the part of the store that creates and changes apps.
type appWriter interface {
	AppSettings(ctx context.Context, tenantID, appID string) (*tenants.App, error)
	CreateApp(ctx context.Context, tenantID string, spec *tenants.App, actor string) (*tenants.App, tenants.Key, error)
	UpdateApp(ctx context.Context, tenantID string, app *tenants.App, actor string) (*tenants.App, error)
}

// createApp makes an app from the defaults (enabled, DefaultLimits) with
// change applied, validated before it is written.
func createApp(ctx context.Context, s appWriter, tenantID, actor string, change func(*tenants.App) error) (*tenants.App, tenants.Key, error) {
	spec := &tenants.App{Enabled: true, Limits: tenants.DefaultLimits()}
	if err := change(spec); err != nil {
		return nil, tenants.Key{}, err
	}
	if err := tenants.ValidateSettings(spec); err != nil {
		return nil, tenants.Key{}, err
	}
	return s.CreateApp(ctx, tenantID, spec, actor)
}

// updateApp changes one app's settings with change, starting from the
// app as stored so that a plan's cap is never written back as the app's
// own limit, and validates the result before it is written.
func updateApp(ctx context.Context, s appWriter, tenantID, appID, actor string, change func(*tenants.App) error) (*tenants.App, error) {
	app, err := s.AppSettings(ctx, tenantID, appID)
	if err != nil {
		return nil, err
	}
	c := *app
	if err := change(&c); err != nil {
		return nil, err
	}
	if err := tenants.ValidateSettings(&c); err != nil {
		return nil, err
	}
	return s.UpdateApp(ctx, tenantID, &c, actor)
}
