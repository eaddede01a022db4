/// Something a sink must never see unless the user asked: a token's text or a literal's body.
public enum SecretRef: Sendable, Hashable {
    case span(Span)
    case literal(segment: Int)
}

/// A client command, decoded from its generic syntax into typed details.
public struct Command: Sendable {
    public var tag: String
    /// Upper case; `UID FETCH` is `FETCH` with `uid` true.
    public var name: String
    public var uid: Bool
    public var arguments: [Node]
    /// Typed fields for the event (never secrets).
    public var details: [(String, JSONValue)] = []
    /// Where the line breaks the command's grammar (reported as a lint).
    public var problems: [String] = []
    public var secrets: [SecretRef] = []
    /// SASL-IR initial response bytes (decoded from base64 when possible).
    public var initialResponse: [UInt8]?
    /// What each literal holds, for summaries ("message", "header", …).
    public var literalLabels: [Int: String] = [:]
}

/// Turns a client line into a `Command`. Never throws for an unknown command: it yields a
/// generic command whose `arguments` are the parsed tokens.
public enum CommandParser {
    public enum Failure: Error, Sendable { case notACommand(String) }

    public static func parse(_ line: RawLine) throws -> Command {
        var r = SyntaxReader(line)
        guard let tagNode = r.word(), let tag = tagNode.atom else { throw Failure.notACommand("empty line") }
        guard isValidTag(tag) else { throw Failure.notACommand("'\(tag.prefix(40))' is not a valid tag") }
        guard r.space(), let nameNode = r.word(), var name = nameNode.atom?.uppercased() else {
            throw Failure.notACommand("tag \(tag.prefix(40)) without a command")
        }
        var uid = false
        if name == "UID" {
            guard r.space(), let sub = r.word()?.atom?.uppercased() else { throw Failure.notACommand("UID without a command") }
            name = sub
            uid = true
        }
        // Literal headers glued to the command name (`LOGIN{5}`) are not valid either.
        guard name.utf8.allSatisfy({ SyntaxReader.isAtomByte($0) && $0 != UInt8(ascii: "{") }) else {
            throw Failure.notACommand("'\(name.prefix(40))' is not a command name")
        }
        var cmd = Command(tag: tag, name: name, uid: uid, arguments: [])
        do {
            if r.atEnd || r.space() || r.peekByte() == nil {
                // AUTHENTICATE's initial response and SASL-like arguments are parsed as atoms too.
                cmd.arguments = try r.nodes()
            } else {
                cmd.problems.append("expected a space after \(name)")
                cmd.arguments = try r.nodes()
            }
        } catch {
            cmd.problems.append("\(error)")
            if name == "LOGIN" || name == "AUTHENTICATE" {
                // An argument we cannot delimit could be a password: hide everything after the name.
                cmd.secrets.append(.span(Span(segment: nameNode.span.segment, start: nameNode.span.end, end: line.segments[0].text.count)))
                for (i, s) in line.segments.enumerated() where s.literal != nil { cmd.secrets.append(.literal(segment: i)) }
            }
            return cmd
        }
        CommandGrammar.decode(&cmd, line: line)
        return cmd
    }

    /// tag = 1*<any ASTRING-CHAR except "+">
    public static func isValidTag(_ tag: String) -> Bool {
        guard !tag.isEmpty, tag.utf8.count <= 256 else { return false }
        for c in tag.utf8 {
            if c <= 0x20 || c >= 0x7F { return false }
            switch c {
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
                 UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "+"):
                return false
            default: continue
            }
        }
        return true
    }
}
