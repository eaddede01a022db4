import Foundation
import IMAPCore

/// Compares two IMAP conversations by meaning rather than bytes.
///
/// Each session becomes a list of lines, one per command, response, continuation, SASL line,
/// DONE and COMPRESS switch, normalised so that what always differs between two runs does not:
/// tags are dropped (RFC 9051 §2.2.1: a tag only pairs a completion with its command), a
/// tagged completion names its command instead (`S: (SELECT) OK …`, or `(#n)` by the tag's
/// position when the decoder could not pair it), so one extra command does not make every later
/// tag differ; times and latencies are gone (Dovecot's `(0.001 + 0.000 secs)` too), and any two
/// redaction markers are equal, a command's strings compare by value (an atom, a quoted string
/// and a literal with the same characters are equal), flag lists and FETCH items are sorted, and each command is
/// followed by its own responses whatever the pipelining timing (`sessionLines`). `Mask`s hide
/// values that differ between servers on purpose.
/// The two line lists are then compared with Myers' O(ND) difference algorithm.
public enum ConversationDiff {
    /// Values `--ignore` can hide.
    public enum Mask: String, CaseIterable, Sendable {
        /// `UIDVALIDITY n` (response codes, STATUS, QRESYNC parameters).
        case uidvalidity
        /// `UIDNEXT n`.
        case uidnext
        /// `MODSEQ (n)`, `HIGHESTMODSEQ n` (RFC 7162).
        case modseq
        /// INTERNALDATE and other date-time strings, RFC 5322 dates in envelopes, SAVEDATE.
        case dates
        /// The human-readable text of the greeting (its response code stays).
        case greeting
        /// The server's `* ID (…)` answer (RFC 2971).
        case id
        /// The human-readable text of every status response (`OK Logged in` vs `OK User logged in`);
        /// status and response code stay.
        case text
    }

    public struct UnknownMask: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "unknown --ignore value '\(name)' (known: \(Mask.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
    }

    public static func masks(_ list: [String]) throws -> Set<Mask> {
        var out = Set<Mask>()
        for item in list.flatMap({ $0.split(separator: ",") }) {
            let name = item.trimmingCharacters(in: .whitespaces).lowercased()
            if name.isEmpty { continue }
            guard let m = Mask(rawValue: name) else { throw UnknownMask(name: name) }
            out.insert(m)
        }
        return out
    }

    // MARK: normalising

    /// The conversation's lines: per session, in order; a `== session n` line between sessions.
    public static func lines(_ events: [Event], ignoring masks: Set<Mask> = []) -> [String] {
        var order: [String] = []
        var bySession: [String: [Event]] = [:]
        for e in events {
            if bySession[e.session] == nil { order.append(e.session) }
            bySession[e.session, default: []].append(e)
        }
        var out: [String] = []
        for (n, s) in order.enumerated() {
            if order.count > 1 { out.append("== session \(n + 1)") }
            out += sessionLines(bySession[s] ?? [], masks: masks)
        }
        return out
    }

    /// A command in flight, for attributing responses to it.
    struct InFlight {
        var tag: String
        var block: Int
        var name: CommandName
        var uid: Bool
        var sequenceSet: String?
    }

    /// The conversation as blocks, one per command: the command, then the server lines that
    /// answer it (untagged data, continuations, its completion) and the client lines inside it
    /// (SASL, DONE), each in its own order. How a pipelining client's commands interleave with
    /// the responses depends on timing, and how a server batches the responses to pipelined
    /// commands on its implementation; neither is meaning, so the same conversation reads the
    /// same however the bytes raced. Untagged data goes to the oldest command in flight (a
    /// server answers in order), FETCH data to the FETCH or STORE whose set holds its message
    /// (or UID); lines with no command in flight stand between the blocks.
    static func sessionLines(_ events: [Event], masks: Set<Mask>) -> [String] {
        var tags: [String: Int] = [:]
        func position(_ t: String) -> String {
            if let p = tags[t] { return "#\(p)" }
            tags[t] = tags.count + 1
            return "#\(tags.count)"
        }
        // The output order: standalone lines, and blocks by number.
        enum Slot {
            case line(String)
            case block(Int)
        }
        var slots: [Slot] = []
        var blocks: [[String]] = []
        var inFlight: [InFlight] = []
        var sawGreeting = false
        for e in events {
            let line = e.body.line ?? ""
            var text: String
            var target: Int?
            switch e.body {
            case .command(let command):
                let tag = command.tag
                _ = position(tag)
                blocks.append([])
                inFlight.append(
                    InFlight(
                        tag: tag, block: blocks.count - 1, name: command.name, uid: command.uid,
                        sequenceSet: command.arguments.sequenceSet))
                slots.append(.block(blocks.count - 1))
                // By value: the command's name in upper case (`select` is `SELECT`), its strings as
                // StringValues says (`SELECT "INBOX"` is `SELECT INBOX`).
                var arguments = afterFirstToken(line)
                if command.uid { arguments = afterFirstToken(arguments) }
                let name = command.fullName
                let rest = afterFirstToken(arguments)
                text = "C: " + name + (rest.isEmpty ? "" : " " + StringValues.canonical(rest))
                target = blocks.count - 1
            case .tagged(let tagged):
                let tag = tagged.tag
                let command = tagged.command ?? position(tag)
                text = "S: (\(command)) " + afterFirstToken(line)
                if masks.contains(.text) { text = maskText(text) }
                if let k = inFlight.firstIndex(where: { $0.tag == tag }) {
                    target = inFlight[k].block
                    inFlight.remove(at: k)
                }
            case .untagged(let untagged):
                text = "S: " + line
                let name = untagged.name
                if !sawGreeting, ["OK", "PREAUTH", "BYE"].contains(name) {
                    sawGreeting = true
                    if masks.contains(.greeting) || masks.contains(.text) { text = maskText(text) }
                } else if masks.contains(.text), ["OK", "NO", "BAD", "BYE"].contains(name) {
                    text = maskText(text)
                }
                if name == "ID", masks.contains(.id) { text = "S: * ID …" }
                if name == "FETCH" {
                    text = sortFetchItems(text)
                    target = fetchOwner(untagged, inFlight)?.block
                }
                if target == nil { target = inFlight.first?.block }
            case .continuation, .sasl, .idleDone, .compress, .gap, .unparsed:
                // Part of the latest command's exchange (a literal, SASL, IDLE), if one runs.
                switch e.body {
                case .continuation: text = "S: " + line
                case .sasl: text = (e.dir == .client ? "C: " : "S: ") + line
                case .idleDone: text = "C: DONE"
                case .compress(let c): text = "-- COMPRESS=\(c.algorithm) active"
                case .gap(let gap): text = "-- gap: \(gap.missing) \(e.dir?.rawValue ?? "") bytes missing"
                case .unparsed(let u): text = "\(e.dir == .client ? "C" : "S"): (unparsed) \(u.raw)"
                default: continue
                }
                target = inFlight.last?.block
            case .sessionStart, .sessionEnd, .tls, .lint, .fault:
                // Addresses, ports, TLS details and imapscope's own opinions and faults are not the
                // conversation (what a fault did to it is: the lines it sent or changed).
                continue
            }
            let normalized = terminalSafe(normalize(text, masks: masks))
            if let b = target { blocks[b].append(normalized) } else { slots.append(.line(normalized)) }
            if e.kind == .untagged { sawGreeting = true }
        }
        return slots.flatMap { slot -> [String] in
            switch slot {
            case .line(let l): return [l]
            case .block(let b): return blocks[b]
            }
        }
    }

    /// The FETCH, UID FETCH, STORE or UID STORE in flight whose sequence set holds this FETCH
    /// response's message number (or its UID, for the UID forms).
    static func fetchOwner(_ e: UntaggedEvent, _ inFlight: [InFlight]) -> InFlight? {
        let number = e.number
        let uid = e.response.arguments.fetchUID
        return inFlight.first { c in
            guard c.name == .fetch || c.name == .store, let set = c.sequenceSet, let n = c.uid ? uid : number else {
                return false
            }
            return sequenceSet(set, contains: n)
        }
    }

    /// sequence-set = (seq-number / seq-range) *("," sequence-set), `*` the largest (RFC 9051 §9).
    static func sequenceSet(_ set: String, contains n: Int64) -> Bool {
        for part in set.split(separator: ",") {
            let ends = part.split(separator: ":").map { $0 == "*" ? Int64.max : Int64($0) }
            guard !ends.isEmpty, !ends.contains(where: { $0 == nil }) else { continue }
            let values = ends.compactMap { $0 }
            if let low = values.min(), let high = values.max(), low <= n && n <= high { return true }
        }
        return false
    }

    /// `* 1 FETCH (UID 1 FLAGS (\Seen))` and `* 1 FETCH (FLAGS (\Seen) UID 1)` are the same
    /// response (RFC 9051 §7.5.2: msg-att items in any order): items sorted by name.
    static func sortFetchItems(_ line: String) -> String {
        guard let open = line.range(of: " FETCH ("), line.hasSuffix(")") else { return line }
        let inner = line[open.upperBound..<line.index(before: line.endIndex)]
        var tokens: [String] = []
        var current = ""
        var depth = 0
        var bracket = 0
        var quoted = false
        var escaped = false
        var summary = false
        for c in inner {
            if quoted {
                current.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { quoted = false }
                continue
            }
            if summary {
                current.append(c)
                if c == "›" { summary = false }
                continue
            }
            switch c {
            case "\"": quoted = true
            case "(": depth += 1
            case ")": depth -= 1
            case "[": bracket += 1
            case "]": bracket -= 1
            case "‹": summary = true
            default: break
            }
            if c == " ", depth == 0, bracket == 0 {
                // `{27} ‹27 bytes, header›`: a literal and its summary are one value.
                if !current.isEmpty { tokens.append(current) }
                current = ""
                continue
            }
            current.append(c)
        }
        if !current.isEmpty { tokens.append(current) }
        var merged: [String] = []
        for t in tokens {
            if t.hasPrefix("‹"), let last = merged.last, last.hasPrefix("{") {
                merged[merged.count - 1] += " " + t
            } else {
                merged.append(t)
            }
        }
        guard merged.count % 2 == 0, depth == 0, !quoted else { return line }
        let pairs = stride(from: 0, to: merged.count, by: 2).map { (merged[$0], merged[$0 + 1]) }
            .sorted { $0.0.uppercased() < $1.0.uppercased() }
        return line[..<open.upperBound] + pairs.map { "\($0.0) \($0.1)" }.joined(separator: " ") + ")"
    }

    private static func afterFirstToken(_ s: String) -> String {
        guard let sp = s.firstIndex(of: " ") else { return "" }
        return String(s[s.index(after: sp)...])
    }

    /// `S: (SELECT) OK [READ-WRITE] Select completed.` → `S: (SELECT) OK [READ-WRITE] …`
    private static func maskText(_ line: String) -> String {
        // "S: ", then "(COMMAND)" (which may hold a space: "(UID FETCH)") or "*", status, rest.
        var rest = Substring(line.dropFirst(3))
        let who: Substring
        if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") {
            who = rest[...close]
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        } else {
            let sp = rest.firstIndex(of: " ") ?? rest.endIndex
            who = rest[..<sp]
            rest = rest[sp...].drop { $0 == " " }
        }
        let sp = rest.firstIndex(of: " ") ?? rest.endIndex
        let status = rest[..<sp]
        guard ["OK", "NO", "BAD", "BYE", "PREAUTH"].contains(status.uppercased()) else { return line }
        let head = "S: \(who) \(status)"
        let text = rest[sp...].drop { $0 == " " }
        if text.isEmpty { return head }
        let t = String(text)
        if t.hasPrefix("["), let close = codeEnd(t) {
            return head + " " + t[...close] + " …"
        }
        return head + " …"
    }

    /// The `]` closing a response code, skipping brackets nested in it.
    private static func codeEnd(_ s: String) -> String.Index? {
        var depth = 0
        for i in s.indices {
            if s[i] == "[" { depth += 1 }
            if s[i] == "]" {
                depth -= 1
                if depth == 0 { return i }
            }
        }
        return nil
    }

    private static let always: [(NSRegularExpression, String)] = [
        // Timing in completions: Dovecot's "(0.001 + 0.000 + 0.002 secs)", Cyrus's "(0.000 sec)".
        masking(#" ?\(\d+\.\d+(?: \+ \d+\.\d+)* secs?\)"#, with: ""),
        // Any redaction marker equals any other.
        masking("‹redacted:[0-9a-f]{8}›", with: "‹redacted›"),
    ].compactMap { $0 }

    private static let maskPatterns: [Mask: [(NSRegularExpression, String)?]] = [
        // APPENDUID and COPYUID (RFC 4315) start with the UIDVALIDITY too.
        .uidvalidity: [masking(#"(?i)\b(UIDVALIDITY|APPENDUID|COPYUID) \d+"#, with: "$1 …")],
        .uidnext: [masking(#"(?i)\b(UIDNEXT) \d+"#, with: "$1 …")],
        .modseq: [masking(#"(?i)\b(HIGHESTMODSEQ|MODSEQ) (\(?)\d+"#, with: "$1 $2…")],
        .dates: [
            masking(#"(?i)\b(INTERNALDATE|SAVEDATE) "[^"]*""#, with: "$1 \"…\""),
            // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
            masking(#""[ \d]?\d-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}""#, with: "\"…\""),
            // RFC 5322 date in an ENVELOPE.
            masking(#""(?:[A-Za-z]{3}, )?\d{1,2} [A-Za-z]{3} \d{4} \d\d:\d\d(?::\d\d)? [^"]*""#, with: "\"…\""),
        ],
    ]

    /// `FLAGS (…)` and `PERMANENTFLAGS (…)` lists are sets (RFC 9051 §2.3.2): sorted.
    private static let flagList = try? NSRegularExpression(pattern: #"(?i)\b(?:PERMANENT)?FLAGS \(([^()]*)\)"#)

    /// A constant pattern and its replacement. The patterns are literals the diff tests exercise, so
    /// one that did not compile would show there; here it only masks nothing instead of crashing.
    private static func masking(_ pattern: String, with template: String) -> (NSRegularExpression, String)? {
        (try? NSRegularExpression(pattern: pattern)).map { ($0, template) }
    }

    static func sortFlags(_ s: String) -> String {
        var out = s
        guard let flagList else { return s }
        for m in flagList.matches(in: s, range: NSRange(s.startIndex..., in: s)).reversed() {
            guard let r = Range(m.range(at: 1), in: s), let o = Range(m.range(at: 1), in: out) else { continue }
            // Same length, so the ranges of earlier matches stay valid.
            let sorted = s[r].split(separator: " ").map(String.init).sorted { $0.lowercased() < $1.lowercased() }
                .joined(separator: " ")
            out.replaceSubrange(o, with: sorted)
        }
        return out
    }

    static func normalize(_ s: String, masks: Set<Mask>) -> String {
        var out = sortFlags(s)
        var rules = always
        for m in Mask.allCases where masks.contains(m) { rules += (maskPatterns[m] ?? []).compactMap { $0 } }
        for (re, template) in rules {
            out = re.stringByReplacingMatches(
                in: out, range: NSRange(out.startIndex..., in: out), withTemplate: template)
        }
        return out
    }

    // MARK: comparing

    public enum Op: Equatable, Sendable {
        case same(String)
        case removed(String)
        case added(String)
    }

    /// The shortest edit script from `a` to `b` (Myers 1986), common prefix and suffix first.
    public static func diff(_ a: [String], _ b: [String]) -> [Op] {
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] {
            suffix += 1
        }
        let x = Array(a[prefix..<(a.count - suffix)])
        let y = Array(b[prefix..<(b.count - suffix)])
        return a[..<prefix].map { .same($0) } + myers(x, y) + a[(a.count - suffix)...].map { .same($0) }
    }

    /// Beyond this many differing lines the edit script is no longer searched for (its trace
    /// costs O(D²) memory): the differing middle is shown as removed, then added.
    public static let maxEditDistance = 2000

    private static func myers(_ a: [String], _ b: [String]) -> [Op] {
        let n = a.count
        let m = b.count
        if n == 0 { return b.map { .added($0) } }
        if m == 0 { return a.map { .removed($0) } }
        let max = n + m
        var v = [Int](repeating: 0, count: 2 * max + 2)
        // trace[d]: v for diagonals -d…d before step d (only those are read back).
        var trace: [[Int]] = []
        var found = false
        outer: for d in 0...min(max, maxEditDistance) {
            trace.append(Array(v[(max - d)...(max + d)]))
            for k in stride(from: -d, through: d, by: 2) {
                var x: Int
                if k == -d || (k != d && v[max + k - 1] < v[max + k + 1]) {
                    x = v[max + k + 1]
                } else {
                    x = v[max + k - 1] + 1
                }
                var y = x - k
                while x < n, y < m, a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[max + k] = x
                if x >= n && y >= m {
                    found = true
                    break outer
                }
            }
        }
        guard found else { return a.map { .removed($0) } + b.map { .added($0) } }
        // Walk the trace back from (n, m).
        var ops: [Op] = []
        var x = n
        var y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let row = trace[d]
            func at(_ k: Int) -> Int { row[k + d] }
            let k = x - y
            let prevK = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1
            let prevX = d == 0 ? 0 : at(prevK)
            let prevY = prevX - prevK
            while x > prevX, y > prevY {
                ops.append(.same(a[x - 1]))
                x -= 1
                y -= 1
            }
            if d > 0 {
                if x == prevX {
                    ops.append(.added(b[y - 1]))
                    y -= 1
                } else {
                    ops.append(.removed(a[x - 1]))
                    x -= 1
                }
            }
        }
        while x > 0, y > 0 {
            ops.append(.same(a[x - 1]))
            x -= 1
            y -= 1
        }
        return ops.reversed()
    }

    // MARK: printing

    public struct Style: Sendable {
        public var color: Bool
        public var context: Int
        /// Total width of a side-by-side view.
        public var width: Int
        public init(color: Bool = false, context: Int = 3, width: Int = 160) {
            self.color = color
            self.context = context
            self.width = width
        }
    }

    /// Runs of changes with `context` unchanged lines around them.
    struct Hunk {
        var aStart: Int, bStart: Int
        var ops: [Op]
    }

    static func hunks(_ ops: [Op], context: Int) -> [Hunk] {
        let changed = ops.indices.filter {
            if case .same = ops[$0] { return false }
            return true
        }
        guard !changed.isEmpty else { return [] }
        var ranges: [ClosedRange<Int>] = []
        for i in changed {
            let r = max(0, i - context)...min(ops.count - 1, i + context)
            if let last = ranges.last, r.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                ranges.append(r)
            }
        }
        // Line numbers (1-based) in A and B at each op.
        var aLine = [Int]()
        var bLine = [Int]()
        var ai = 1
        var bi = 1
        for op in ops {
            aLine.append(ai)
            bLine.append(bi)
            switch op {
            case .same:
                ai += 1
                bi += 1
            case .removed: ai += 1
            case .added: bi += 1
            }
        }
        return ranges.map { Hunk(aStart: aLine[$0.lowerBound], bStart: bLine[$0.lowerBound], ops: Array(ops[$0])) }
    }

    private static func paint(_ s: String, _ code: String, _ on: Bool) -> String {
        on ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s
    }

    /// `diff -u` style: `---`/`+++` names, `@@ -a,n +b,m @@` hunks. Empty when equal.
    public static func unified(_ ops: [Op], nameA: String, nameB: String, style: Style = Style()) -> String {
        let hs = hunks(ops, context: style.context)
        guard !hs.isEmpty else { return "" }
        var out = paint("--- \(nameA)", "1", style.color) + "\n" + paint("+++ \(nameB)", "1", style.color) + "\n"
        for h in hs {
            let aCount = h.ops.filter {
                if case .added = $0 { return false }
                return true
            }.count
            let bCount = h.ops.filter {
                if case .removed = $0 { return false }
                return true
            }.count
            out += paint("@@ -\(h.aStart),\(aCount) +\(h.bStart),\(bCount) @@", "36", style.color) + "\n"
            for op in h.ops {
                switch op {
                case .same(let s): out += " \(s)\n"
                case .removed(let s): out += paint("-\(s)", "31", style.color) + "\n"
                case .added(let s): out += paint("+\(s)", "32", style.color) + "\n"
                }
            }
        }
        return out
    }

    /// Two columns, A left and B right: `|` a changed line, `<` only in A, `>` only in B.
    public static func sideBySide(_ ops: [Op], nameA: String, nameB: String, style: Style = Style()) -> String {
        let hs = hunks(ops, context: style.context)
        guard !hs.isEmpty else { return "" }
        let col = max(20, (style.width - 3) / 2)
        func cell(_ s: String, pad: Bool = true) -> String {
            s.count > col
                ? String(s.prefix(col - 1)) + "…" : (pad ? s + String(repeating: " ", count: col - s.count) : s)
        }
        var out = paint(cell(nameA) + "   " + cell(nameB, pad: false), "1", style.color) + "\n"
        for h in hs {
            out += paint("@@ \(h.aStart) / \(h.bStart) @@", "36", style.color) + "\n"
            var i = 0
            while i < h.ops.count {
                if case .same(let s) = h.ops[i] {
                    out += cell(s) + "   " + cell(s, pad: false) + "\n"
                    i += 1
                    continue
                }
                // Pair a run of removals with the run of additions after it.
                var removed: [String] = []
                var added: [String] = []
                while i < h.ops.count, case .removed(let s) = h.ops[i] {
                    removed.append(s)
                    i += 1
                }
                while i < h.ops.count, case .added(let s) = h.ops[i] {
                    added.append(s)
                    i += 1
                }
                for r in 0..<max(removed.count, added.count) {
                    let l = r < removed.count ? removed[r] : ""
                    let rt = r < added.count ? added[r] : ""
                    let mark = r < removed.count && r < added.count ? " | " : (r < removed.count ? " < " : " > ")
                    out +=
                        paint(cell(l), "31", style.color && !l.isEmpty) + paint(mark, "33", style.color)
                        + paint(cell(rt, pad: false), "32", style.color && !rt.isEmpty) + "\n"
                }
            }
        }
        return out
    }
}
