// Package engine is Pollen's interpreter: it turns compiled element definitions and instance
// configurations into polls, and polls into change events.
//
// The engine knows no vendor. Everything vendor-specific (paths, query parameters, where-field
// mappings, the deleted signal, paging, authentication) comes from an [Element] and its
// [Resource]s, which the definitions package decodes, schema-checks and compiles with
// [CompileElement]. An instance body (the Cloud Elements `POST /instances` body) is compiled with
// [CompileInstance] into an [Instance] whose [Job]s are the (instance, resource) pairs to poll.
//
// One poll reads top to bottom in [Poller.Poll]: fill the poller URL's macros from the cursor, send
// the vendor query through a [Source], extract each record with gjson, apply the residual CEQL
// filter and the definition's filter (expr), de-duplicate against the cursor's overlap, classify
// CREATED / UPDATED / DELETED, and hand the events with the advanced cursor to a [Store] in one
// commit. Everything that can be compiled (expr programs, gjson paths, date layouts, URL templates)
// is compiled when a definition or instance is loaded, never per poll.
//
// The engine talks to the outside only through small interfaces: [Source], [Store], [Sink] and
// [Clock] (and, for several nodes sharing one store, [Leases] and [Notices]). It never imports
// the adapters that implement them.
//
// Several nodes: a [Cluster] stands between the instance service and a node's [Runtime]. It
// leases each vendor account to one live node (rendezvous hashing over the nodes whose
// definitions have the account's resources), runs there only the instances of the accounts it
// holds, fenced by their lease ([Fence], [ErrFenced]), hands accounts over when nodes join or
// leave, and applies changes made through other nodes ([Notice]).
package engine
