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
            guard let mask = Mask(rawValue: name) else { throw UnknownMask(name: name) }
            out.insert(mask)
        }
        return out
    }

    // MARK: normalising

    /// The conversation's lines: per session, in order; a `== session n` line between sessions.
    public static func lines(_ events: [Event], ignoring masks: Set<Mask> = []) -> [String] {
        var order: [String] = []
        var bySession: [String: [Event]] = [:]
        for event in events {
            if bySession[event.session] == nil { order.append(event.session) }
            bySession[event.session, default: []].append(event)
        }
        var out: [String] = []
        for (index, session) in order.enumerated() {
            if order.count > 1 { out.append("== session \(index + 1)") }
            out += sessionLines(bySession[session] ?? [], masks: masks)
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
        func position(_ tag: String) -> String {
            if let known = tags[tag] { return "#\(known)" }
            tags[tag] = tags.count + 1
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
        for event in events {
            let line = event.body.line ?? ""
            var text: String
            var target: Int?
            switch event.body {
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
                if let index = inFlight.firstIndex(where: { $0.tag == tag }) {
                    target = inFlight[index].block
                    inFlight.remove(at: index)
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
                switch event.body {
                case .continuation: text = "S: " + line
                case .sasl: text = (event.dir == .client ? "C: " : "S: ") + line
                case .idleDone: text = "C: DONE"
                case .compress(let compress): text = "-- COMPRESS=\(compress.algorithm) active"
                case .gap(let gap): text = "-- gap: \(gap.missing) \(event.dir?.rawValue ?? "") bytes missing"
                case .unparsed(let unparsed): text = "\(event.dir == .client ? "C" : "S"): (unparsed) \(unparsed.raw)"
                default: continue
                }
                target = inFlight.last?.block
            case .sessionStart, .sessionEnd, .tls, .lint, .fault:
                // Addresses, ports, TLS details and imapscope's own opinions and faults are not the
                // conversation (what a fault did to it is: the lines it sent or changed).
                continue
            }
            let normalized = terminalSafe(normalize(text, masks: masks))
            if let block = target { blocks[block].append(normalized) } else { slots.append(.line(normalized)) }
            if event.kind == .untagged { sawGreeting = true }
        }
        return slots.flatMap { slot -> [String] in
            switch slot {
            case .line(let line): return [line]
            case .block(let block): return blocks[block]
            }
        }
    }

    /// The FETCH, UID FETCH, STORE or UID STORE in flight whose sequence set holds this FETCH
    /// response's message number (or its UID, for the UID forms).
    static func fetchOwner(_ fetch: UntaggedEvent, _ inFlight: [InFlight]) -> InFlight? {
        let number = fetch.number
        let uid = fetch.response.arguments.fetchUID
        return inFlight.first { candidate in
            guard candidate.name == .fetch || candidate.name == .store, let set = candidate.sequenceSet,
                let wanted = candidate.uid ? uid : number
            else {
                return false
            }
            return sequenceSet(set, contains: wanted)
        }
    }

    /// sequence-set = (seq-number / seq-range) *("," sequence-set), `*` the largest (RFC 9051 §9).
    static func sequenceSet(_ set: String, contains number: Int64) -> Bool {
        for part in set.split(separator: ",") {
            let ends = part.split(separator: ":").map { $0 == "*" ? Int64.max : Int64($0) }
            guard !ends.isEmpty, !ends.contains(where: { $0 == nil }) else { continue }
            let values = ends.compactMap { $0 }
            if let low = values.min(), let high = values.max(), low <= number && number <= high { return true }
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

    private static func afterFirstToken(_ text: String) -> String {
        guard let space = text.firstIndex(of: " ") else { return "" }
        return String(text[text.index(after: space)...])
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
            let space = rest.firstIndex(of: " ") ?? rest.endIndex
            who = rest[..<space]
            rest = rest[space...].drop { $0 == " " }
        }
        let space = rest.firstIndex(of: " ") ?? rest.endIndex
        let status = rest[..<space]
        guard ["OK", "NO", "BAD", "BYE", "PREAUTH"].contains(status.uppercased()) else { return line }
        let head = "S: \(who) \(status)"
        let text = rest[space...].drop { $0 == " " }
        if text.isEmpty { return head }
        let remainder = String(text)
        if remainder.hasPrefix("["), let close = codeEnd(remainder) {
            return head + " " + remainder[...close] + " …"
        }
        return head + " …"
    }

    /// The `]` closing a response code, skipping brackets nested in it.
    private static func codeEnd(_ text: String) -> String.Index? {
        var depth = 0
        for i in text.indices {
            if text[i] == "[" { depth += 1 }
            if text[i] == "]" {
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

    static func sortFlags(_ line: String) -> String {
        var out = line
        guard let flagList else { return line }
        for match in flagList.matches(in: line, range: NSRange(line.startIndex..., in: line)).reversed() {
            guard let range = Range(match.range(at: 1), in: line), let outRange = Range(match.range(at: 1), in: out)
            else { continue }
            // Same length, so the ranges of earlier matches stay valid.
            let sorted = line[range].split(separator: " ").map(String.init).sorted { $0.lowercased() < $1.lowercased() }
                .joined(separator: " ")
            out.replaceSubrange(outRange, with: sorted)
        }
        return out
    }

    static func normalize(_ line: String, masks: Set<Mask>) -> String {
        var out = sortFlags(line)
        var rules = always
        for mask in Mask.allCases where masks.contains(mask) { rules += (maskPatterns[mask] ?? []).compactMap { $0 } }
        for (expression, template) in rules {
            out = expression.stringByReplacingMatches(
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
    public static func diff(_ before: [String], _ after: [String]) -> [Op] {
        var prefix = 0
        while prefix < before.count, prefix < after.count, before[prefix] == after[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < before.count - prefix, suffix < after.count - prefix,
            before[before.count - 1 - suffix] == after[after.count - 1 - suffix]
        {
            suffix += 1
        }
        let middleBefore = Array(before[prefix..<(before.count - suffix)])
        let middleAfter = Array(after[prefix..<(after.count - suffix)])
        return before[..<prefix].map { .same($0) } + myers(middleBefore, middleAfter)
            + before[(before.count - suffix)...].map { .same($0) }
    }

    /// Beyond this many differing lines the edit script is no longer searched for (its trace
    /// costs O(D²) memory): the differing middle is shown as removed, then added.
    public static let maxEditDistance = 2000

    private static func myers(_ before: [String], _ after: [String]) -> [Op] {
        let beforeCount = before.count
        let afterCount = after.count
        if beforeCount == 0 { return after.map { .added($0) } }
        if afterCount == 0 { return before.map { .removed($0) } }
        let maxEdits = beforeCount + afterCount
        var furthest = [Int](repeating: 0, count: 2 * maxEdits + 2)
        // trace[d]: v for maxEdits -d…d before step d (only those are read back).
        var trace: [[Int]] = []
        var found = false
        outer: for edits in 0...min(maxEdits, maxEditDistance) {
            trace.append(Array(furthest[(maxEdits - edits)...(maxEdits + edits)]))
            for diagonal in stride(from: -edits, through: edits, by: 2) {
                var beforeIndex: Int
                if diagonal == -edits
                    || (diagonal != edits && furthest[maxEdits + diagonal - 1] < furthest[maxEdits + diagonal + 1])
                {
                    beforeIndex = furthest[maxEdits + diagonal + 1]
                } else {
                    beforeIndex = furthest[maxEdits + diagonal - 1] + 1
                }
                var afterIndex = beforeIndex - diagonal
                while beforeIndex < beforeCount, afterIndex < afterCount, before[beforeIndex] == after[afterIndex] {
                    beforeIndex += 1
                    afterIndex += 1
                }
                furthest[maxEdits + diagonal] = beforeIndex
                if beforeIndex >= beforeCount && afterIndex >= afterCount {
                    found = true
                    break outer
                }
            }
        }
        guard found else { return before.map { .removed($0) } + after.map { .added($0) } }
        // Walk the trace back from (n, m).
        var ops: [Op] = []
        var beforeIndex = beforeCount
        var afterIndex = afterCount
        for edits in stride(from: trace.count - 1, through: 0, by: -1) {
            let row = trace[edits]
            func at(_ diagonal: Int) -> Int { row[diagonal + edits] }
            let diagonal = beforeIndex - afterIndex
            let prevK =
                (diagonal == -edits || (diagonal != edits && at(diagonal - 1) < at(diagonal + 1)))
                ? diagonal + 1 : diagonal - 1
            let prevX = edits == 0 ? 0 : at(prevK)
            let prevY = prevX - prevK
            while beforeIndex > prevX, afterIndex > prevY {
                ops.append(.same(before[beforeIndex - 1]))
                beforeIndex -= 1
                afterIndex -= 1
            }
            if edits > 0 {
                if beforeIndex == prevX {
                    ops.append(.added(after[afterIndex - 1]))
                    afterIndex -= 1
                } else {
                    ops.append(.removed(before[beforeIndex - 1]))
                    beforeIndex -= 1
                }
            }
        }
        while beforeIndex > 0, afterIndex > 0 {
            ops.append(.same(before[beforeIndex - 1]))
            beforeIndex -= 1
            afterIndex -= 1
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
            let window = max(0, i - context)...min(ops.count - 1, i + context)
            if let last = ranges.last, window.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, window.upperBound)
            } else {
                ranges.append(window)
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

    private static func paint(_ text: String, _ code: String, _ on: Bool) -> String {
        on ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// `diff -u` style: `---`/`+++` names, `@@ -a,n +b,m @@` hunks. Empty when equal.
    public static func unified(_ ops: [Op], nameA: String, nameB: String, style: Style = Style()) -> String {
        let hs = hunks(ops, context: style.context)
        guard !hs.isEmpty else { return "" }
        var out = paint("--- \(nameA)", "1", style.color) + "\n" + paint("+++ \(nameB)", "1", style.color) + "\n"
        for hunk in hs {
            let aCount = hunk.ops.filter {
                if case .added = $0 { return false }
                return true
            }.count
            let bCount = hunk.ops.filter {
                if case .removed = $0 { return false }
                return true
            }.count
            out += paint("@@ -\(hunk.aStart),\(aCount) +\(hunk.bStart),\(bCount) @@", "36", style.color) + "\n"
            for op in hunk.ops {
                switch op {
                case .same(let line): out += " \(line)\n"
                case .removed(let line): out += paint("-\(line)", "31", style.color) + "\n"
                case .added(let line): out += paint("+\(line)", "32", style.color) + "\n"
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
        func cell(_ text: String, pad: Bool = true) -> String {
            text.count > col
                ? String(text.prefix(col - 1)) + "…"
                : (pad ? text + String(repeating: " ", count: col - text.count) : text)
        }
        var out = paint(cell(nameA) + "   " + cell(nameB, pad: false), "1", style.color) + "\n"
        for hunk in hs {
            out += paint("@@ \(hunk.aStart) / \(hunk.bStart) @@", "36", style.color) + "\n"
            var i = 0
            while i < hunk.ops.count {
                if case .same(let text) = hunk.ops[i] {
                    out += cell(text) + "   " + cell(text, pad: false) + "\n"
                    i += 1
                    continue
                }
                // Pair a run of removals with the run of additions after it.
                var removed: [String] = []
                var added: [String] = []
                while i < hunk.ops.count, case .removed(let text) = hunk.ops[i] {
                    removed.append(text)
                    i += 1
                }
                while i < hunk.ops.count, case .added(let text) = hunk.ops[i] {
                    added.append(text)
                    i += 1
                }
                for row in 0..<max(removed.count, added.count) {
                    let left = row < removed.count ? removed[row] : ""
                    let right = row < added.count ? added[row] : ""
                    let mark = row < removed.count && row < added.count ? " | " : (row < removed.count ? " < " : " > ")
                    out +=
                        paint(cell(left), "31", style.color && !left.isEmpty) + paint(mark, "33", style.color)
                        + paint(cell(right, pad: false), "32", style.color && !right.isEmpty) + "\n"
                }
            }
        }
        return out
    }
}
