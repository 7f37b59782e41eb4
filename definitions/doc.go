// Package definitions holds Pollen's built-in element definitions as data and the one load path
// that turns definition files and instance bodies into compiled engine values.
//
// A definitions tree has one folder per element and one file per resource, named after it:
//
//	freshdeskv2/element.json
//	freshdeskv2/resources/incidents.json
//	freshdeskv2/resources/contacts.json
//
// Loading a file decodes it strictly, checks it against its JSON Schema, and compiles it with the
// engine; every problem is reported as FILE: /json/pointer: message, all of them, not only the
// first. `pollen validate` and `pollen serve` use exactly this path, so the linter and the server
// can never disagree.
package definitions
