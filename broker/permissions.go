package broker

// Permissions is the NATS authorization (allow lists) an agent user needs for one Topology when
// several Slurm clusters share a NATS deployment: everything the agent, its bridge, its runners
// and its operator commands (status, dead-letter list/retry/purge) do, and nothing on another
// prefix's subjects, streams, consumers or buckets. deploy/nats/accounts.conf is its rendering
// for prefix JBG_C1, and a test keeps the two equal.
//
// NATS wildcards match whole tokens only ("$JS.API.STREAM.INFO.JBG_C1_*" matches nothing but a
// stream literally named "JBG_C1_*"), so every stream is listed by name.
type Permissions struct {
	// Publish lists the subjects the agent may publish to (and send requests on).
	Publish []string
	// Subscribe lists the subjects the agent may subscribe to: only its own inbox prefix, so no
	// other user's replies (pull-consumer deliveries, KV values) can be read.
	Subscribe []string
}

// InboxPrefix is the reply-subject prefix of this topology's agents ("_INBOX_<Prefix>"). Agents of
// different prefixes sharing one account must use their own, set with ClientOptions.InboxPrefix:
// a user allowed to subscribe to the shared default "_INBOX.>" could read the replies of every
// other user, including the work messages a pull consumer delivers.
func (t Topology) InboxPrefix() string { return "_INBOX_" + t.Prefix }

// Streams returns the names of every stream of t, including the streams behind the KV buckets
// ("KV_<bucket>").
func (t Topology) Streams() []string {
	var out []string
	for _, q := range t.Queues() {
		out = append(out, q.Stream)
	}
	out = append(out, t.Dead, t.Advisories)
	for _, b := range t.Buckets() {
		out = append(out, "KV_"+b)
	}
	return out
}

// Buckets returns the names of the KV buckets of t.
func (t Topology) Buckets() []string {
	return []string{t.SubmissionsBucket, t.JobsBucket, t.LeasesBucket, t.AgentsBucket}
}

// AgentPermissions returns the minimal allow lists for the agents of t, in a stable order:
//
//   - <root>.>: publishing work, health ticks and dead letters;
//   - $JS.API.INFO: the account's JetStream usage, read before creating a KV bucket;
//   - per stream S: $JS.API.STREAM.{INFO,CREATE,UPDATE,PURGE}.S (provisioning, status, dead-letter
//     purge; never DELETE), $JS.API.STREAM.MSG.{GET,DELETE}.S (dead-letter reaper and commands),
//     $JS.API.CONSUMER.*.S (consumer list and names), $JS.API.CONSUMER.*.S.> (create with or
//     without filter, info, delete of the ephemeral inspection consumers), the pull request
//     $JS.API.CONSUMER.MSG.NEXT.S.*, and the acknowledgements $JS.ACK.S.> and $JS.ACK.*.*.S.>
//     (the second is the v2 ack format with domain and account hash);
//   - per bucket B: $KV.B.> (put, create, update, delete) and, for its stream, direct gets
//     $JS.API.DIRECT.GET.KV_B.> and flow-control replies $JS.FC.KV_B.> of KV watchers;
//   - subscribe: <InboxPrefix>.> only.
//
// The MAX_DELIVERIES advisories need no permission: the server stores them in the ADVISORIES
// stream itself and the runners read them through a consumer.
func AgentPermissions(t Topology) Permissions {
	// $JS.API.INFO (the account's JetStream usage) is read before creating KV buckets.
	pub := []string{t.SubjectRoot + ".>", "$JS.API.INFO"}
	for _, b := range t.Buckets() {
		pub = append(pub, "$KV."+b+".>")
	}
	for _, s := range t.Streams() {
		pub = append(pub,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.CREATE."+s,
			"$JS.API.STREAM.UPDATE."+s,
			"$JS.API.STREAM.PURGE."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.STREAM.MSG.DELETE."+s,
			"$JS.API.CONSUMER.*."+s,
			"$JS.API.CONSUMER.*."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".*",
			"$JS.ACK."+s+".>",
			"$JS.ACK.*.*."+s+".>",
		)
	}
	for _, b := range t.Buckets() {
		pub = append(pub, "$JS.API.DIRECT.GET.KV_"+b+".>", "$JS.FC.KV_"+b+".>")
	}
	return Permissions{Publish: pub, Subscribe: []string{t.InboxPrefix() + ".>"}}
}
