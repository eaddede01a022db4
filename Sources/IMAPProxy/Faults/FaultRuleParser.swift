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
        var position = 0
        while position < chars.count {
            if chars[position] == " " || chars[position] == "\t" {
                position += 1
                continue
            }
            let start = position
            if chars[position] == "\"" {
                var text = ""
                position += 1
                while true {
                    guard position < chars.count else {
                        throw FaultRuleError(column: start + 1, message: "unclosed double quote")
                    }
                    if chars[position] == "\"" { break }
                    if chars[position] == "\\", position + 1 < chars.count { position += 1 }
                    text.append(chars[position])
                    position += 1
                }
                position += 1
                if position < chars.count, chars[position] != " ", chars[position] != "\t" {
                    throw FaultRuleError(column: position + 1, message: "expected a space after the closing quote")
                }
                words.append(Word(text: text, column: start + 1, quoted: true))
            } else {
                while position < chars.count, chars[position] != " ", chars[position] != "\t" { position += 1 }
                words.append(Word(text: String(chars[start..<position]), column: start + 1, quoted: false))
            }
        }
        return words
    }

    // MARK: Match

    static func parseMatch(_ words: [Word]) throws -> FaultMatch {
        var wordIndex = 1
        let head = words[0]
        let trigger: FaultTrigger
        if head.text.lowercased() == "after" && !head.quoted {
            guard words.count > 1 else {
                throw FaultRuleError(
                    column: head.column + head.text.count + 1, message: "'after' needs a size and a side or a duration")
            }
            let amount = words[1]
            if let delay = duration(amount.text) {
                trigger = .elapsed(delay)
                wordIndex = 2
            } else if let byteCount = size(amount.text) {
                guard words.count > 2, let leg = ProxyLeg(rawValue: words[2].text.lowercased()) else {
                    let column = words.count > 2 ? words[2].column : amount.column + amount.text.count + 1
                    throw FaultRuleError(column: column, message: "expected 'server' or 'client' after the size")
                }
                trigger = .bytes(byteCount, from: leg)
                wordIndex = 3
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
                wordIndex = 2
            }
            while wordIndex < words.count, !isOption(words[wordIndex]) {
                pattern.arguments.append(words[wordIndex].text)
                wordIndex += 1
            }
            trigger = .command(pattern)
        }
        var match = FaultMatch(trigger: trigger)
        try parseOptions(words[wordIndex...], into: &match)
        return match
    }

    static func isCommandName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { ($0.isASCII && $0.isLetter) || $0.isNumber || $0 == "-" || $0 == "_" }
            && name.first?.isLetter == true
    }

    static func isOption(_ word: Word) -> Bool {
        guard !word.quoted else { return false }
        let lowered = word.text.lowercased()
        return lowered.hasPrefix("#") || lowered == "every" || lowered.hasPrefix("p=") || lowered.hasPrefix("seed=")
            || lowered == "session"
    }

    static func parseOptions(_ words: ArraySlice<Word>, into match: inout FaultMatch) throws {
        var seen: Set<String> = []
        var probability: Double?
        var seed: UInt64?
        var wordIndex = words.startIndex
        func once(_ key: String, _ word: Word) throws {
            guard seen.insert(key).inserted else {
                throw FaultRuleError(column: word.column, message: "'\(key)' given twice")
            }
        }
        func number(after word: Word) throws -> Int {
            let next = wordIndex + 1
            guard next < words.endIndex, let count = Int(words[next].text), count >= 1 else {
                let column = next < words.endIndex ? words[next].column : word.column + word.text.count + 1
                throw FaultRuleError(column: column, message: "'\(word.text)' needs a whole number of 1 or more")
            }
            wordIndex = next
            return count
        }
        while wordIndex < words.endIndex {
            let word = words[wordIndex]
            let lowered = word.text.lowercased()
            if !isOption(word) {
                let what = match.trigger.isCommand ? "an argument pattern comes before" : "expected one of"
                throw FaultRuleError(
                    column: word.column, message: "unexpected '\(word.text)': \(what) #N, every N, p=, seed=, session N"
                )
            }
            if lowered.hasPrefix("#") {
                try once("#", word)
                guard let count = Int(lowered.dropFirst()), count >= 1 else {
                    throw FaultRuleError(column: word.column + 1, message: "'#' needs a whole number of 1 or more")
                }
                match.occurrence = .nth(count)
            } else if lowered == "every" {
                try once("every", word)
                match.occurrence = .every(try number(after: word))
            } else if lowered.hasPrefix("p=") {
                try once("p=", word)
                guard let chance = Double(lowered.dropFirst(2)), chance > 0, chance <= 1 else {
                    throw FaultRuleError(
                        column: word.column + 2, message: "p= needs a probability above 0 and at most 1")
                }
                probability = chance
            } else if lowered.hasPrefix("seed=") {
                try once("seed=", word)
                guard let seedValue = UInt64(lowered.dropFirst(5)) else {
                    throw FaultRuleError(column: word.column + 5, message: "seed= needs a whole number")
                }
                seed = seedValue
            } else {
                try once("session", word)
                match.session = try number(after: word)
            }
            wordIndex += 1
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
        func rawText(after word: Word) -> String {
            String(chars[min(chars.count, word.column - 1 + word.text.count)...]).trimmingSpaces
        }
        func noMore(_ count: Int) throws {
            if rest.count > count {
                let extra = rest[rest.startIndex + count]
                throw FaultRuleError(column: extra.column, message: "unexpected '\(extra.text)' after \(head.text)")
            }
        }
        func argument(_ what: String) throws -> Word {
            guard let word = rest.first else {
                throw FaultRuleError(column: head.column + head.text.count + 1, message: "\(head.text) needs \(what)")
            }
            return word
        }
        switch head.quoted ? "" : head.text.lowercased() {
        case "delay":
            let word = try argument("a duration (2s, 500ms)")
            guard let delay = duration(word.text), delay.milliseconds > 0 else {
                throw FaultRuleError(column: word.column, message: "expected a duration such as 2s or 500ms")
            }
            try noMore(1)
            return .delay(delay)
        case "respond":
            let word = try argument("NO or BAD and a text")
            guard let status = FaultStatus(rawValue: word.text.uppercased()), !word.quoted else {
                throw FaultRuleError(
                    column: word.column, message: "respond takes NO or BAD (imapscope never claims OK)")
            }
            return .respond(status: status, text: rawText(after: word))
        case "bye":
            let text: String
            if let word = rest.first, word.quoted {
                try noMore(1)
                text = word.text
            } else {
                text = rawText(after: head)
            }
            return .bye(text.isEmpty ? "imapscope fault injection" : text)
        case "reset", "cut", "stall":
            try noMore(0)
            return head.text.lowercased() == "reset" ? .reset : head.text.lowercased() == "cut" ? .cut : .stall
        case "throttle":
            let word = try argument("a rate such as 50KB/s")
            guard word.text.lowercased().hasSuffix("/s"), let rate = size(String(word.text.dropLast(2))), rate > 0
            else {
                throw FaultRuleError(column: word.column, message: "expected a rate such as 50KB/s")
            }
            try noMore(1)
            return .throttle(bytesPerSecond: rate)
        case "inject":
            let word = try argument("an untagged line such as \"* 0 EXISTS\"")
            let line = word.quoted ? word.text : rawText(after: head)
            if word.quoted { try noMore(1) }
            guard let lineHead = LineHead(Array(line.utf8)), lineHead.kind == .untagged, lineHead.word != nil else {
                throw FaultRuleError(column: word.column, message: "inject sends an untagged line: '* ' and a response")
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
    static func duration(_ text: String) -> FaultDuration? {
        let lowered = text.lowercased()
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, scale) in units where lowered.hasSuffix(suffix) {
            guard let amount = Double(lowered.dropLast(suffix.count)), amount >= 0, amount.isFinite,
                amount * scale < 1e12
            else { return nil }
            return FaultDuration(milliseconds: Int((amount * scale).rounded()))
        }
        return nil
    }

    /// `512`, `512B`, `64KB`, `1MB`, `2GB` (K = 1024; KiB, MiB, GiB too).
    static func size(_ text: String) -> Int? {
        let upper = text.uppercased()
        let units: [(String, Int)] = [
            ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        for (suffix, scale) in units where upper.hasSuffix(suffix) {
            guard let amount = Double(upper.dropLast(suffix.count)), amount > 0, amount.isFinite,
                amount * Double(scale) < 1e15
            else {
                return nil
            }
            return Int((amount * Double(scale)).rounded())
        }
        guard let count = Int(upper), count > 0 else { return nil }
        return count
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
        var trimmed = Substring(self)
        while trimmed.first == " " || trimmed.first == "\t" { trimmed.removeFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed.removeLast() }
        return String(trimmed)
    }
}
