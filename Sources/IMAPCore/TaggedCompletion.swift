/// What a tagged completion (`a1 OK …`, `a1 NO …`, `a1 BAD …`) says, judged against the command
/// in flight it completes: that command's name and latency, a sentence for a person, and whether
/// the tag must be hidden or is a finding because no command carried it.
struct TaggedCompletion: Equatable {
    /// The completed command as events name it (`UID FETCH`); nil when no command carried the tag.
    var command: String?
    var latencyMs: Double?
    var annotation: String?
    /// No command carried the tag: the server may be echoing client bytes that were no command
    /// (a literal's body it took for one, a SASL line), so the tag is hidden.
    var tagIsSecret = false
    var lint: Lint?
}

extension TaggedCompletion {
    /// `completed`: the command in flight the tag completes. `confirmsHiddenLine`: the tag was
    /// one a hidden client line carried. `clientSynchronized`: client lines are known to start
    /// where commands start.
    init(
        status: String, code: String?, completed: CommandInFlight?, time: Timestamp, confirmsHiddenLine: Bool,
        clientSynchronized: Bool, greetingSeen: Bool
    ) {
        guard let completed else {
            tagIsSecret = true
            if confirmsHiddenLine {
                annotation = "completes a client line that was hidden; client lines are shown again from here"
            } else if !clientSynchronized {
                // Hidden client lines carried tags: a completion of one of them is no anomaly.
                annotation = "completes a command whose line was hidden or not captured"
            } else {
                lint = .unknownTag(status: status, afterGreeting: greetingSeen)
            }
            return
        }
        let name = completed.uid ? "UID " + completed.name.text : completed.name.text
        let milliseconds = time.milliseconds(since: completed.time)
        command = name
        latencyMs = (milliseconds * 1000).rounded() / 1000
        let outcome = status == "OK" ? "completed" : (status == "NO" ? "failed" : "rejected as invalid")
        // Transcripts carry no times: say nothing rather than "0 ms".
        var text =
            milliseconds == 0 ? "\(name) \(outcome)" : "\(name) \(outcome) in \(Annotations.duration(milliseconds))"
        if let code, let meaning = Annotations.responseCode(code) {
            text += "; " + meaning
        } else if status == "BAD", code == nil {
            text += "; the server could not parse the command or it is not allowed now"
        }
        annotation = text
    }
}
