package engine

import "encoding/json"

// ElementSpec is the decoded form of an element definition file (element.json). The JSON Schema
// schemas/element.schema.json is its contract; field documentation lives there.
type ElementSpec struct {
	Schema         string            `json:"$schema,omitempty"`
	Key            string            `json:"key"`
	ID             int64             `json:"id"`
	Name           string            `json:"name"`
	HookName       string            `json:"hookName,omitempty"`
	Description    string            `json:"description,omitempty"`
	Image          string            `json:"image,omitempty"`
	Hub            string            `json:"hub"`
	BaseURL        string            `json:"baseUrl"`
	Authentication AuthSpec          `json:"authentication"`
	Configuration  []ConfigKey       `json:"configuration"`
	Paging         PagingSpec        `json:"paging"`
	RateLimit      *RateLimitSpec    `json:"rateLimit,omitempty"`
	Events         EventsSpec        `json:"events"`
	Headers        map[string]string `json:"headers,omitempty"`
}

// AuthSpec says how requests to the vendor are authenticated. Username, Password and header values
// are templates over the instance configuration: "{username}" is the value of the configuration key
// "username".
type AuthSpec struct {
	Type     string            `json:"type"` // "basic", "header" or "none"
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
}

// ConfigKey is one configuration key an instance of the element accepts.
type ConfigKey struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Type        string `json:"type"` // text, password, boolean, number, json
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Secret      bool   `json:"secret,omitempty"`
	Default     string `json:"default,omitempty"`
	Hidden      bool   `json:"hidden,omitempty"`
}

// PagingSpec is how the vendor pages a list.
type PagingSpec struct {
	Type        string `json:"type"`                  // "link" (RFC 8288 Link rel="next"), "page" (page number), "body" (next URL in the body), "none"
	NextPath    string `json:"nextPath,omitempty"`    // body: gjson path of the next page's URL (e.g. after_url, next_page)
	EndPath     string `json:"endPath,omitempty"`     // body: gjson path of a boolean that is true on the last page (e.g. end_of_stream)
	PageParam   string `json:"pageParam,omitempty"`   // query parameter of the 1-based page number
	SizeParam   string `json:"sizeParam,omitempty"`   // query parameter of the page size
	MaxPageSize int    `json:"maxPageSize,omitempty"` // the vendor's largest page
	MaxPages    int    `json:"maxPages,omitempty"`    // pages one query can reach (a vendor's page cap); 0 = no cap
}

// RateLimitSpec names the vendor's rate-limit response headers.
type RateLimitSpec struct {
	LimitHeader      string `json:"limitHeader,omitempty"`
	RemainingHeader  string `json:"remainingHeader,omitempty"`
	RetryAfterHeader string `json:"retryAfterHeader,omitempty"`
}

// EventsSpec holds the element's event defaults.
type EventsSpec struct {
	Type                     string   `json:"type"` // "polling"
	DefaultResources         []string `json:"defaultResources,omitempty"`
	RefreshIntervalMinutes   float64  `json:"refreshInterval,omitempty"`
	MaxEventsPerNotification int      `json:"maxEventsPerNotification,omitempty"`
}

// ResourceSpec is the decoded form of a resource definition file (resources/NAME.json). The
// resource's name is the file's name. schemas/resource.schema.json is its contract.
type ResourceSpec struct {
	Schema       string               `json:"$schema,omitempty"`
	Description  string               `json:"description,omitempty"`
	VendorPath   string               `json:"vendorPath"`
	Records      string               `json:"records,omitempty"`
	PageSize     int                  `json:"pageSize,omitempty"`
	MaxPages     int                  `json:"maxPages,omitempty"`
	Query        map[string]string    `json:"query,omitempty"`
	ReverseQuery map[string]string    `json:"reverseQuery,omitempty"`
	Where        map[string]WhereSpec `json:"where,omitempty"`
	UpdatedOrder string               `json:"updatedOrder,omitempty"` // "asc", "desc" or "" (unknown)
	Fields       map[string]string    `json:"fields,omitempty"`
	Paging       *PagingSpec          `json:"paging,omitempty"`
	Resume       *ResumeSpec          `json:"resume,omitempty"`
	RateLimit    *EndpointRateSpec    `json:"rateLimit,omitempty"`
	MinAge       float64              `json:"minAge,omitempty"`
	Deleted      *DeletedSpec         `json:"deleted,omitempty"`
	Filter       string               `json:"filter,omitempty"`
	Sort         map[string]SortSpec  `json:"sort,omitempty"` // orderBy fields of hub calls
	Polling      PollerSpec           `json:"polling"`
}

// SortSpec is how the vendor sorts a list by one field, for the orderBy of a hub call: Param=Value
// selects the field, DirectionParam (when the vendor has one) receives asc or desc.
type SortSpec struct {
	Param          string `json:"param"`
	Value          string `json:"value"`
	DirectionParam string `json:"directionParam,omitempty"`
}

// ResumeSpec is a vendor's own cursor: a token read from each page (From, a gjson path) that is
// kept with the job's cursor and sent as Param on the next poll instead of the since parameter,
// as incremental export APIs ask.
type ResumeSpec struct {
	Param string `json:"param"`
	From  string `json:"from"`
	// Time says the token is a time in the change cursor's format (a time-based export's
	// end_time): a page whose token is the one it was asked with cannot page past its second.
	Time bool `json:"time,omitempty"`
}

// EndpointRateSpec is a vendor endpoint's own rate limit, beside the account-wide one: Requests
// per Seconds for each account.
type EndpointRateSpec struct {
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
}

// WhereSpec maps a CEQL where field onto a vendor query parameter, or marks it as the change
// cursor that the vendor cannot filter on (Cursor: the poll's own updated-date window applies it).
type WhereSpec struct {
	Param     string   `json:"param,omitempty"`
	Cursor    bool     `json:"cursor,omitempty"`
	Operators []string `json:"operators,omitempty"` // default ["="]
}

// DeletedSpec is a resource's deleted signal: an optional extra query that lists deleted records,
// and an expr over the record that says a record is deleted.
type DeletedSpec struct {
	Query map[string]string `json:"query,omitempty"`
	When  string            `json:"when"`
}

// PollerSpec is one resource's poller configuration, as in the Cloud Elements
// `event.poller.configuration` object. The resource definition carries the default; an instance
// may override any field.
type PollerSpec struct {
	URL                   string     `json:"url,omitempty"`
	IDField               string     `json:"idField,omitempty"`
	DatesConfiguration    *DatesSpec `json:"datesConfiguration,omitempty"`
	CreatedCheckTolerance *float64   `json:"createdCheckTolerance,omitempty"`
	FilterByUpdatedDate   *bool      `json:"filterByUpdatedDate,omitempty"`
	FilterByCurrentDate   *bool      `json:"filterByCurrentDate,omitempty"`
	PageSize              *int       `json:"pageSize,omitempty"`
	PollDelay             *float64   `json:"pollDelay,omitempty"`
	Lookback              *float64   `json:"lookback,omitempty"`
	Filter                *string    `json:"filter,omitempty"`
}

// DatesSpec is the Cloud Elements datesConfiguration object.
type DatesSpec struct {
	UpdatedDateField    string `json:"updatedDateField,omitempty"`
	UpdatedDateFormat   string `json:"updatedDateFormat,omitempty"`
	UpdatedDateTimezone string `json:"updatedDateTimezone,omitempty"`
	CreatedDateField    string `json:"createdDateField,omitempty"`
	CreatedDateFormat   string `json:"createdDateFormat,omitempty"`
	CreatedDateTimezone string `json:"createdDateTimezone,omitempty"`
}

// InstanceSpec is the Cloud Elements `POST /instances` body.
type InstanceSpec struct {
	Element       ElementRef      `json:"element"`
	Name          string          `json:"name"`
	Tags          []string        `json:"tags,omitempty"`
	Configuration map[string]any  `json:"configuration"`
	ProviderData  json.RawMessage `json:"providerData,omitempty"`
	Description   string          `json:"description,omitempty"`
}

// ElementRef names an element by key (or id).
type ElementRef struct {
	Key string `json:"key,omitempty"`
	ID  int64  `json:"id,omitempty"`
}
