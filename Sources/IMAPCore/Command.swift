/// Something a sink must never see unless the user asked: a token's text or a literal's body.
public enum SecretRef: Sendable, Hashable {
    case span(Span)
    case literal(segment: Int)
}

/// A client command, decoded from its generic syntax into typed details.
public struct Command: Sendable {
    public var tag: String
    /// `UID FETCH` is `.fetch` with `uid` true.
    public var name: CommandName
    public var uid: Bool
    public var arguments: [Node]
    /// Typed fields for the event (never secrets).
    public var details = ArgumentFields()
    /// Where the line breaks the command's grammar (reported as a lint).
    public var problems: [String] = []
    public var secrets: [SecretRef] = []
    /// SASL-IR initial response bytes (decoded from base64 when possible).
    public var initialResponse: [UInt8]?
    /// What each literal holds, for summaries ("message", "header", …).
    public var literalLabels: [Int: String] = [:]
    /// Everything after the name is secret (a command imapscope does not know, or arguments it
    /// could not parse).
    public var argumentsHidden = false

    /// A command the grammar knows (an unknown one carries `known: false`).
    public var isKnown: Bool { details.isKnown }
}

/// Turns a client line into a `Command`. Never throws for an unknown command: it yields a
/// generic command whose `arguments` are the parsed tokens.
public enum CommandParser {
    public enum Failure: Error, Sendable { case notACommand(String) }

    public static func parse(_ line: RawLine) throws -> Command {
        var reader = SyntaxReader(line)
        // Failure reasons never quote the line: a line that is not a command may be a secret.
        guard let tagNode = reader.word(), let tag = tagNode.atom else { throw Failure.notACommand("empty line") }
        guard isValidTag(tag) else { throw Failure.notACommand("the first word is not a valid tag") }
        guard reader.space(), var nameNode = reader.word(), var name = nameNode.atom?.uppercased() else {
            throw Failure.notACommand("a tag without a command")
        }
        var uid = false
        if name == "UID" {
            guard reader.space(), let sub = reader.word(), let subName = sub.atom?.uppercased() else {
                throw Failure.notACommand("UID without a command")
            }
            name = subName
            nameNode = sub
            uid = true
        }
        // Literal headers glued to the command name (`LOGIN{5}`) are not valid either.
        guard name.utf8.allSatisfy({ SyntaxReader.isAtomByte($0) && $0 != UInt8(ascii: "{") }) else {
            throw Failure.notACommand("the second word is not a command name")
        }
        var cmd = Command(tag: tag, name: CommandName(name), uid: uid, arguments: [])
        do {
            if !(reader.atEnd || reader.space() || reader.peekByte() == nil) {
                cmd.problems.append("expected a space after \(name)")
            }
            // AUTHENTICATE's initial response and SASL-like arguments are parsed as atoms too.
            cmd.arguments = try reader.nodes()
        } catch {
            // Arguments that cannot even be tokenized are not classified: all of them are hidden.
            cmd.problems.append(hidesArguments(cmd) ? "its arguments could not be parsed" : "\(error)")
            cmd.secrets = secrets(after: nameNode, in: line)
            cmd.argumentsHidden = true
            return cmd
        }
        CommandGrammar.decode(&cmd, line: line)
        if let anchor = visiblePrefixEnd(cmd, name: nameNode) {
            cmd.secrets = secrets(after: anchor, in: line)
            cmd.argumentsHidden = anchor.span == nameNode.span
        }
        return cmd
    }

    /// Deny by default: of LOGIN only the user name is shown, of AUTHENTICATE the mechanism,
    /// of a command imapscope does not know nothing after its name; the rest is secret
    /// whatever its syntax (two words, junk after a quoted string, literals, an initial response).
    /// Returns the last node shown, or nil when every argument is harmless.
    static func visiblePrefixEnd(_ cmd: Command, name: Node) -> Node? {
        switch cmd.name {
        case .login:
            guard cmd.arguments.count >= 2, let user = cmd.arguments.first else { return name }
            switch user.syntax {
            case .atom, .quoted, .literal, .number: return user
            default: return name
            }
        case .authenticate:
            guard let mech = cmd.arguments.first, cmd.details.mechanism != nil else { return name }
            return mech
        default:
            return cmd.isKnown ? nil : name
        }
    }

    /// Whether a command's arguments are hidden when they cannot be tokenized (its problems
    /// then say so without quoting them).
    static func hidesArguments(_ cmd: Command) -> Bool {
        cmd.name == .login || cmd.name == .authenticate || !cmd.name.isKnown
    }

    /// Everything of `line` after `anchor`: the text of each segment (spaces around it aside)
    /// and every literal body.
    static func secrets(after anchor: Node, in line: RawLine) -> [SecretRef] {
        var out: [SecretRef] = []
        var segment = anchor.span.segment
        var from = anchor.span.end
        // A literal token ends with its body: what follows starts in the next segment.
        if case .literal(let literalSegment) = anchor.syntax {
            segment = literalSegment + 1
            from = 0
        }
        while segment < line.segments.count {
            let seg = line.segments[segment]
            var end = seg.text.count
            if seg.literal != nil, let (_, at) = LiteralHeader.trailing(in: seg.text) { end = at }
            var trimmedStart = min(from, end)
            var trimmedEnd = end
            while trimmedStart < trimmedEnd, seg.text[trimmedStart] == 0x20 { trimmedStart += 1 }
            while trimmedEnd > trimmedStart, seg.text[trimmedEnd - 1] == 0x20 { trimmedEnd -= 1 }
            if trimmedStart < trimmedEnd {
                out.append(.span(Span(segment: segment, start: trimmedStart, end: trimmedEnd)))
            }
            if seg.literal != nil { out.append(.literal(segment: segment)) }
            segment += 1
            from = 0
        }
        return out
    }

    /// tag = 1*<any ASTRING-CHAR except "+">
    public static func isValidTag(_ tag: String) -> Bool {
        guard !tag.isEmpty, tag.utf8.count <= 256 else { return false }
        for byte in tag.utf8 {
            if byte <= 0x20 || byte >= 0x7F { return false }
            switch byte {
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
                UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "+"):
                return false
            default: continue
            }
        }
        return true
    }
}
