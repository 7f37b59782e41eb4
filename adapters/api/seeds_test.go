package api

import "github.com/pollen-hq/pollen/definitions"

// The instance bodies of the seed pages, verbatim but for what the published pages render
// differently from their source.
//
// Seed 000 (the Freshdesk V2 events page) is Jekyll source: "{{page.elementKey}}" is rendered from
// the page's front matter (elementKey: freshdeskv2), and "<minutes>" is a placeholder where a
// number string is required ("15", the page's own example value). Nothing else is changed; the
// tabs and indentation are the page's.
//
// Seed 003 (the Freshdesk V2 authenticate page) is a text extraction that lost the lines holding
// only brackets and the tag line "<Add_Your_Tag>" (stripped as if it were an HTML tag). The bodies
// below are the seed's lines with those lines restored as published at
// https://docs.cloud-elements.com/home/freshdeskv2-authenticate ("Docs" is the cURL example's
// tag there).

// seed000Construct is seed 000's "Construct a JSON body" example.
const seed000Construct = `    {
      "element": {
        "key": "freshdeskv2"
      },
      "configuration": {
    	 "subdomain": "<YOUR_SUBDOMAIN>",
    	 "username": "<YOUR_API_KEY>",
       "event.notification.callback.url": "http://mycoolapp.com",
       "event.poller.refresh_interval": "15",
       "event.poller.configuration":{
          "incidents":{
            "url":"/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField":"id",
            "datesConfiguration":{
              "updatedDateField":"updated_at",
              "updatedDateFormat":"yyyy-MM-dd'T'HH:mm:ssXXX",
              "createdDateField":"created_at",
              "createdDateFormat":"yyyy-MM-dd'T'HH:mm:ssXXX"
            }
          },
          "contacts":{
            "createdCheckTolerance": 5,
            "url":"/hubs/helpdesk/contacts?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField":"id",
            "datesConfiguration":{
              "updatedDateField":"updated_at",
              "updatedDateFormat":"yyyy-MM-dd'T'HH:mm:ssXXX",
              "createdDateField":"created_at",
              "createdDateFormat":"yyyy-MM-dd'T'HH:mm:ssXXX"
            }
          }
        }
      },
      "tags":[
        "<Add_Your_Tag>"
      ],
      "name":"<INSTANCE_NAME>"
    }
`

// seed003Body is seed 003's "Construct a JSON body" example: no events configuration.
const seed003Body = `    {
      "element": {
        "key": "freshdeskv2"
      },
      "configuration": {
        "subdomain": "<YOUR_SUBDOMAIN>",
        "username": "<YOUR_API_KEY>",
        "filter.response.nulls": true
      },
      "tags": [
        "<Add_Your_Tag>"
      ],
      "name": "<INSTANCE_NAME>"
    }
`

// seed003Curl is the body of seed 003's "Example cURL".
const seed003Curl = `{
    "element": {
      "key": "freshdeskv2"
    },
    "configuration": {
     "subdomain": "cloudelements",
     "username": "xxxxxxxxxxxxxxxxxxxxx"
    },
    "tags": [
      "Docs"
    ],
      "name": "API Instance"
}
`

// seed003Element is the element block of seed 003's example response, brackets restored.
const seed003Element = `{
      "id": 491,
      "name": "Freshdesk V2",
      "hookName": "Freshdeskv2",
      "key": "freshdeskv2",
      "description": "Add a Freshdesk Instance to connect your existing Freshdesk account to the Help Desk Hub, allowing you to manage your incidents, priorities, statuses, users, etc. across multiple Help Desk Elements. You will need your Freshdesk account information to add an instance.",
      "image": "elements/provider_freshdesk.png",
      "active": true,
      "deleted": false,
      "typeOauth": false,
      "trialAccount": false,
      "resources": [ ],
      "transformationsEnabled": true,
      "bulkDownloadEnabled": true,
      "bulkUploadEnabled": true,
      "cloneable": true,
      "extendable": true,
      "beta": false,
      "authentication": {
          "type": "basic"
      },
      "extended": false,
      "hub": "helpdesk",
      "protocolType": "http",
      "parameters": [  ]
}`

// seed003ResponseKeys are the top-level keys of seed 003's example response.
var seed003ResponseKeys = []string{"id", "name", "createdDate", "token", "element", "elementId", "tags",
	"provisionInteractions", "valid", "disabled", "maxCacheSize", "cacheTimeToLive", "configuration",
	"eventsEnabled", "traceLoggingEnabled", "cachingEnabled", "externalAuthentication", "user"}

// seed000Example is seed 000's "Example JSON with Polling", which freshdeskv2 ships as its
// example instance body.
var seed000Example = func() string {
	b, err := definitions.Example("freshdeskv2", "polling")
	if err != nil {
		panic(err)
	}
	return string(b)
}()
