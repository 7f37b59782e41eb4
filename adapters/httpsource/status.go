package httpsource

import "github.com/pollen-hq/pollen/engine"

// HTTPStatus returns the vendor's HTTP status, for the engine.
func (e *StatusError) HTTPStatus() int { return e.Status }

// VendorCode returns the vendor's error code (Freshdesk: invalid_credentials, require_feature, ...).
func (e *StatusError) VendorCode() string { return e.Code }

// VendorMessage returns the vendor's message.
func (e *StatusError) VendorMessage() string { return e.Message }

var _ engine.VendorStatus = (*StatusError)(nil)
