import IMAPCore

/// A rule that cannot be read: where (1-based column in the rule) and why.
public struct FaultRuleError: Error, Equatable, CustomStringConvertible {
    public var column: Int
    public var message: String
    public init(column: Int, message: String) {
        self.column = column
        self.message = message
    }
    public var description: String { "column \(column): \(message)" }
}

/// Reads `MATCH -> ACTION` rules (see the README's fault injection section for the grammar).
/// Words are separated by spaces; a double-quoted word may hold spaces (`\"` and `\\` escape).
public enum FaultRuleParser {
    /// Commands `respond` may answer: they change nothing on the server that the client would
    /// then believe undone (FETCH may still set \Seen; SELECT leaves the server leg selected).
    public static let answerable: Set<String> = [
        "CAPABILITY", "NOOP", "CHECK", "SELECT", "EXAMINE", "STATUS", "LIST", "LSUB", "XLIST", "FETCH", "SEARCH",
        "SORT", "THREAD", "NAMESPACE", "ID", "GETQUOTA", "GETQUOTAROOT", "GETACL", "MYRIGHTS", "LISTRIGHTS",
        "GETMETADATA",
    ]
    static let uidCommands: Set<String> = ["FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE", "SORT", "THREAD"]

    struct Word: Equatable {
        var text: String
        var column: Int
        var quoted: Bool
    }

    public static func parse(_ rule: String) throws -> FaultRule {
        let chars = Array(rule)
        if let bad = chars.firstIndex(where: {
            $0.asciiValue.map { $0 < 0x20 && $0 != 0x09 } ?? false || $0 == "\u{7F}"
        }) {
            throw FaultRuleError(column: bad + 1, message: "control characters are not allowed in a rule")
        }
        let words = try split(chars)
        guard let arrow = words.firstIndex(where: { $0.text == "->" && !$0.quoted }) else {
            throw FaultRuleError(column: chars.count + 1, message: "expected '->' between the match and the action")
        }
        let matchWords = Array(words[..<arrow])
        let actionWords = Array(words[(arrow + 1)...])
        guard !matchWords.isEmpty else {
            throw FaultRuleError(column: 1, message: "expected a command name, '*' or 'after' before '->'")
        }
        guard let first = actionWords.first else {
            throw FaultRuleError(column: chars.count + 1, message: "expected an action after '->'")
        }
        let match = try parseMatch(matchWords)
        let action = try parseAction(actionWords, chars: chars)
        try check(match, action, matchWords: matchWords, actionColumn: first.column)
        return FaultRule(match: match, action: action)
    }

    // MARK: Words

    static func split(_ chars: [Character]) throws -> [Word] {
        var words: [Word] = []
        var i = 0
        while i < chars.count {
            if chars[i] == " " || chars[i] == "\t" {
                i += 1
                continue
            }
            let start = i
            if chars[i] == "\"" {
                var text = ""
                i += 1
                while true {
                    guard i < chars.count else {
                        throw FaultRuleError(column: start + 1, message: "unclosed double quote")
                    }
                    if chars[i] == "\"" { break }
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    text.append(chars[i])
                    i += 1
                }
                i += 1
                if i < chars.count, chars[i] != " ", chars[i] != "\t" {
                    throw FaultRuleError(column: i + 1, message: "expected a space after the closing quote")
                }
                words.append(Word(text: text, column: start + 1, quoted: true))
            } else {
                while i < chars.count, chars[i] != " ", chars[i] != "\t" { i += 1 }
                words.append(Word(text: String(chars[start..<i]), column: start + 1, quoted: false))
            }
        }
        return words
    }

    // MARK: Match

    static func parseMatch(_ words: [Word]) throws -> FaultMatch {
        var i = 1
        let head = words[0]
        let trigger: FaultTrigger
        if head.text.lowercased() == "after" && !head.quoted {
            guard words.count > 1 else {
                throw FaultRuleError(
                    column: head.column + head.text.count + 1, message: "'after' needs a size and a side or a duration")
            }
            let amount = words[1]
            if let d = duration(amount.text) {
                trigger = .elapsed(d)
                i = 2
            } else if let n = size(amount.text) {
                guard words.count > 2, let leg = ProxyLeg(rawValue: words[2].text.lowercased()) else {
                    let column = words.count > 2 ? words[2].column : amount.column + amount.text.count + 1
                    throw FaultRuleError(column: column, message: "expected 'server' or 'client' after the size")
                }
                trigger = .bytes(n, from: leg)
                i = 3
            } else {
                throw FaultRuleError(
                    column: amount.column, message: "expected a size (1MB) or a duration (30s) after 'after'")
            }
        } else if head.text == "*" && !head.quoted {
            trigger = .command(FaultCommandPattern(name: nil))
        } else {
            guard !head.quoted, isCommandName(head.text) else {
                throw FaultRuleError(column: head.column, message: "expected a command name, '*' or 'after'")
            }
            var pattern = FaultCommandPattern(name: head.text.uppercased())
            if pattern.name == "UID", words.count > 1, isCommandName(words[1].text), !words[1].quoted {
                let name = words[1].text.uppercased()
                guard uidCommands.contains(name) else {
                    throw FaultRuleError(column: words[1].column, message: "UID \(name) is not a UID command")
                }
                pattern = FaultCommandPattern(name: name, uid: true)
                i = 2
            }
            while i < words.count, !isOption(words[i]) {
                pattern.arguments.append(words[i].text)
                i += 1
            }
            trigger = .command(pattern)
        }
        var match = FaultMatch(trigger: trigger)
        try parseOptions(words[i...], into: &match)
        return match
    }

    static func isCommandName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { ($0.isASCII && $0.isLetter) || $0.isNumber || $0 == "-" || $0 == "_" }
            && s.first?.isLetter == true
    }

    static func isOption(_ w: Word) -> Bool {
        guard !w.quoted else { return false }
        let t = w.text.lowercased()
        return t.hasPrefix("#") || t == "every" || t.hasPrefix("p=") || t.hasPrefix("seed=") || t == "session"
    }

    static func parseOptions(_ words: ArraySlice<Word>, into match: inout FaultMatch) throws {
        var seen: Set<String> = []
        var probability: Double?
        var seed: UInt64?
        var i = words.startIndex
        func once(_ key: String, _ w: Word) throws {
            guard seen.insert(key).inserted else {
                throw FaultRuleError(column: w.column, message: "'\(key)' given twice")
            }
        }
        func number(after w: Word) throws -> Int {
            let next = i + 1
            guard next < words.endIndex, let n = Int(words[next].text), n >= 1 else {
                let column = next < words.endIndex ? words[next].column : w.column + w.text.count + 1
                throw FaultRuleError(column: column, message: "'\(w.text)' needs a whole number of 1 or more")
            }
            i = next
            return n
        }
        while i < words.endIndex {
            let w = words[i]
            let t = w.text.lowercased()
            if !isOption(w) {
                let what = match.trigger.isCommand ? "an argument pattern comes before" : "expected one of"
                throw FaultRuleError(
                    column: w.column, message: "unexpected '\(w.text)': \(what) #N, every N, p=, seed=, session N")
            }
            if t.hasPrefix("#") {
                try once("#", w)
                guard let n = Int(t.dropFirst()), n >= 1 else {
                    throw FaultRuleError(column: w.column + 1, message: "'#' needs a whole number of 1 or more")
                }
                match.occurrence = .nth(n)
            } else if t == "every" {
                try once("every", w)
                match.occurrence = .every(try number(after: w))
            } else if t.hasPrefix("p=") {
                try once("p=", w)
                guard let p = Double(t.dropFirst(2)), p > 0, p <= 1 else {
                    throw FaultRuleError(column: w.column + 2, message: "p= needs a probability above 0 and at most 1")
                }
                probability = p
            } else if t.hasPrefix("seed=") {
                try once("seed=", w)
                guard let s = UInt64(t.dropFirst(5)) else {
                    throw FaultRuleError(column: w.column + 5, message: "seed= needs a whole number")
                }
                seed = s
            } else {
                try once("session", w)
                match.session = try number(after: w)
            }
            i += 1
        }
        if seen.contains("#") && seen.contains("every") {
            throw FaultRuleError(
                column: words.first { $0.text.lowercased() == "every" }?.column ?? 1,
                message: "'#N' and 'every N' cannot be combined")
        }
        if let seed, probability == nil {
            _ = seed
            throw FaultRuleError(
                column: words.first { $0.text.lowercased().hasPrefix("seed=") }?.column ?? 1,
                message: "seed= is only meaningful with p=")
        }
        if let probability { match.probability = FaultProbability(probability: probability, seed: seed ?? 0) }
        if !match.trigger.isCommand, seen.contains("#") || seen.contains("every") {
            throw FaultRuleError(
                column: words.first { $0.text.hasPrefix("#") || $0.text.lowercased() == "every" }?.column ?? 1,
                message: "'after' fires once a session: #N and every N apply to commands only")
        }
    }

    // MARK: Action

    static func parseAction(_ words: [Word], chars: [Character]) throws -> FaultActionKind {
        let head = words[0]
        let rest = words.dropFirst()
        /// The rule's raw text after a word (for texts that keep their spaces and brackets).
        func rawText(after w: Word) -> String {
            String(chars[min(chars.count, w.column - 1 + w.text.count)...]).trimmingSpaces
        }
        func noMore(_ count: Int) throws {
            if rest.count > count {
                let extra = rest[rest.startIndex + count]
                throw FaultRuleError(column: extra.column, message: "unexpected '\(extra.text)' after \(head.text)")
            }
        }
        func argument(_ what: String) throws -> Word {
            guard let w = rest.first else {
                throw FaultRuleError(column: head.column + head.text.count + 1, message: "\(head.text) needs \(what)")
            }
            return w
        }
        switch head.quoted ? "" : head.text.lowercased() {
        case "delay":
            let w = try argument("a duration (2s, 500ms)")
            guard let d = duration(w.text), d.milliseconds > 0 else {
                throw FaultRuleError(column: w.column, message: "expected a duration such as 2s or 500ms")
            }
            try noMore(1)
            return .delay(d)
        case "respond":
            let w = try argument("NO or BAD and a text")
            guard let status = FaultStatus(rawValue: w.text.uppercased()), !w.quoted else {
                throw FaultRuleError(column: w.column, message: "respond takes NO or BAD (imapscope never claims OK)")
            }
            return .respond(status: status, text: rawText(after: w))
        case "bye":
            let text: String
            if let w = rest.first, w.quoted {
                try noMore(1)
                text = w.text
            } else {
                text = rawText(after: head)
            }
            return .bye(text.isEmpty ? "imapscope fault injection" : text)
        case "reset", "cut", "stall":
            try noMore(0)
            return head.text.lowercased() == "reset" ? .reset : head.text.lowercased() == "cut" ? .cut : .stall
        case "throttle":
            let w = try argument("a rate such as 50KB/s")
            guard w.text.lowercased().hasSuffix("/s"), let n = size(String(w.text.dropLast(2))), n > 0 else {
                throw FaultRuleError(column: w.column, message: "expected a rate such as 50KB/s")
            }
            try noMore(1)
            return .throttle(bytesPerSecond: n)
        case "inject":
            let w = try argument("an untagged line such as \"* 0 EXISTS\"")
            let line = w.quoted ? w.text : rawText(after: head)
            if w.quoted { try noMore(1) }
            guard let lineHead = LineHead(Array(line.utf8)), lineHead.kind == .untagged, lineHead.word != nil else {
                throw FaultRuleError(column: w.column, message: "inject sends an untagged line: '* ' and a response")
            }
            return .inject(line)
        default:
            throw FaultRuleError(
                column: head.column,
                message:
                    "unknown action '\(head.text)': expected delay, respond, bye, reset, cut, throttle, stall or inject"
            )
        }
    }

    // MARK: Combinations that cannot work

    static func check(_ match: FaultMatch, _ action: FaultActionKind, matchWords: [Word], actionColumn: Int) throws {
        guard case .respond = action else { return }
        guard case .command(let pattern) = match.trigger else {
            throw FaultRuleError(column: actionColumn, message: "respond answers a command: the match must name one")
        }
        guard let name = pattern.name else {
            throw FaultRuleError(
                column: matchWords[0].column,
                message:
                    "respond needs a command name, not '*': answering a command that changes the server while the"
                    + " server still runs it would desynchronise the two legs")
        }
        guard answerable.contains(name) else {
            throw FaultRuleError(
                column: matchWords[pattern.uid ? 1 : 0].column,
                message:
                    "respond to \(name) would desynchronise the two legs: the server still runs the command"
                    + " (imapscope forwards it and replaces its completion); respond answers commands that change"
                    + " nothing, such as SELECT, EXAMINE, FETCH, SEARCH, STATUS, LIST, NOOP")
        }
    }

    // MARK: Amounts

    /// `2s`, `500ms`, `1.5s`, `2m`.
    static func duration(_ s: String) -> FaultDuration? {
        let t = s.lowercased()
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite, v * scale < 1e12 else { return nil }
            return FaultDuration(milliseconds: Int((v * scale).rounded()))
        }
        return nil
    }

    /// `512`, `512B`, `64KB`, `1MB`, `2GB` (K = 1024; KiB, MiB, GiB too).
    static func size(_ s: String) -> Int? {
        let t = s.uppercased()
        let units: [(String, Int)] = [
            ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v > 0, v.isFinite, v * Double(scale) < 1e15 else {
                return nil
            }
            return Int((v * Double(scale)).rounded())
        }
        guard let n = Int(t), n > 0 else { return nil }
        return n
    }
}

extension FaultTrigger {
    var isCommand: Bool {
        if case .command = self { return true }
        return false
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
