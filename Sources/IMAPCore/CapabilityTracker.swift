/// What the server announced it can do, and since when: capabilities change at login and at
/// STARTTLS, and a client that caches the greeting's set across either is a classic bug, so each
/// update is annotated against the previous set with the moment it belongs to.
struct CapabilityTracker {
    /// The moment the next announced set belongs to.
    enum Epoch: Equatable {
        case greeting
        case afterLogin
        case afterStartTLS
        /// imapscope's proxy upgraded the server leg itself (`imap+starttls://`).
        case afterUpstreamStartTLS
        /// A later update in the same state.
        case updated
        case updatedAfterLogin

        /// How an annotation names the change: "capabilities after login: …".
        var label: String {
            switch self {
            case .greeting: return "greeting"
            case .afterLogin: return "after login"
            case .afterStartTLS: return "after STARTTLS"
            case .afterUpstreamStartTLS: return "after imapscope's STARTTLS with the server"
            case .updated, .updatedAfterLogin: return "changed"
            }
        }
    }

    /// The set in force; nil when it is not known (before any, or after STARTTLS voided it).
    private(set) var current: [String]? {
        didSet { currentSet = Set((current ?? []).map { $0.uppercased() }) }
    }
    /// The last set seen, kept across STARTTLS so the next one is compared with it.
    private var last: [String]?
    private(set) var epoch = Epoch.greeting

    /// `current` upper-cased, for lookups; kept with it, since every command line consults it.
    private(set) var currentSet: Set<String> = []

    /// STARTTLS (ours or the client's) voids what the server said in plaintext.
    mutating func void(_ next: Epoch) {
        current = nil
        epoch = next
    }

    /// A LOGIN or AUTHENTICATE completed: the next set is the post-login one, unless the
    /// completion itself already carried it.
    mutating func loggedIn() {
        if epoch != .updatedAfterLogin { epoch = .afterLogin }
    }

    /// A new set arrived; the annotation that goes with it. `epoch` overrides the tracked one
    /// (the greeting's code); `loggingIn` while a LOGIN/AUTHENTICATE is in flight.
    mutating func update(_ caps: [String], epoch override: Epoch? = nil, loggingIn: Bool) -> String {
        let old = current ?? last
        let moment = override ?? (loggingIn ? .afterLogin : epoch)
        current = caps
        last = caps
        epoch = loggingIn ? .updatedAfterLogin : .updated
        guard let old, moment != .greeting else { return Self.firstSummary(caps) }
        let change = Annotations.capabilityChange(from: old, to: caps)
        if change == "unchanged" { return "capabilities unchanged" }
        return "capabilities \(moment.label): " + change
    }

    /// A new set arrived while `inFlight` are the commands in flight: during a LOGIN or
    /// AUTHENTICATE it is the post-login set.
    mutating func update(_ caps: [String], epoch override: Epoch?, inFlight: CommandsInFlight) -> String {
        update(caps, epoch: override, loggingIn: inFlight.running(.login) || inFlight.running(.authenticate))
    }

    static func firstSummary(_ caps: [String]) -> String {
        let auth = caps.filter { $0.uppercased().hasPrefix("AUTH=") }.map { String($0.dropFirst(5)) }
        var summary = "server capabilities: \(caps.count)"
        if !auth.isEmpty { summary += "; SASL mechanisms \(auth.joined(separator: " "))" }
        if caps.contains(where: { $0.uppercased() == "LOGINDISABLED" }) { summary += "; LOGIN is disabled until TLS" }
        if caps.contains(where: { $0.uppercased() == "STARTTLS" }) { summary += "; STARTTLS offered" }
        return summary
    }
}
