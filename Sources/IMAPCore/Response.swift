/// `[CODE args]` at the start of resp-text (RFC 9051 §7.1).
public struct ResponseCode: Sendable {
    public var name: String
    public var arguments: [Node]
    /// The code as written between the brackets.
    public var text: String
}

/// A server line, decoded.
public struct Response: Sendable {
    public enum Kind: Sendable, Equatable {
        /// `tag OK/NO/BAD resp-text`
        case tagged(tag: String, status: String)
        /// `* OK/NO/BAD/BYE/PREAUTH resp-text`
        case status(String)
        /// `* [number] NAME …` (EXISTS, FETCH, CAPABILITY, LIST, …)
        case data(name: String, number: UInt64?)
        /// `+ text-or-base64`
        case continuation
    }
    public var kind: Kind
    public var code: ResponseCode?
    /// resp-text, or a continuation's text.
    public var text: String = ""
    public var arguments: [Node] = []
    public var details = ArgumentFields()
    public var problems: [String] = []
    public var literalLabels: [Int: String] = [:]
}

/// How much of a literal body goes into events: its size and digest always; then nothing,
/// a short preview, or the whole body (as far as it was retained).
public enum BodyMode: String, Sendable { case none, preview, full }

public enum ResponseParser {
    public enum Failure: Error, Sendable { case notAResponse(String) }

    /// resp-cond-state, resp-cond-bye, resp-cond-auth.
    static func isStatus(_ upperCased: String) -> Bool {
        switch upperCased {
        case "OK", "NO", "BAD", "BYE", "PREAUTH": return true
        default: return false
        }
    }

    // response = *(continue-req / response-data) response-done
    public static func parse(_ line: RawLine, bodies: BodyMode = .preview) throws -> Response {
        try parse(line, bodies: bodies, generalOnly: false)
    }

    /// `generalOnly`: never take `SimpleResponses`' short cuts (tests compare the two).
    static func parse(_ line: RawLine, bodies: BodyMode, generalOnly: Bool) throws -> Response {
        var reader = SyntaxReader(line)
        guard let first = reader.wordText() else { throw Failure.notAResponse("empty line") }
        // continue-req = "+" [SP (resp-text / base64)] CRLF
        if first == "+" {
            reader.space()
            var resp = Response(kind: .continuation)
            resp.text = String(decoding: reader.rest(), as: UTF8.self)
            return resp
        }
        if first == "*" {
            guard reader.space() else { throw Failure.notAResponse("'*' without a response") }
            return try untagged(&reader, line: line, bodies: bodies, generalOnly: generalOnly)
        }
        // response-tagged = tag SP resp-cond-state CRLF
        guard CommandParser.isValidTag(first) else {
            throw Failure.notAResponse("'\(first.prefix(40))' is neither '*', '+' nor a tag")
        }
        guard reader.space(), let status = reader.wordText()?.uppercased(),
            status == "OK" || status == "NO" || status == "BAD"
        else {
            throw Failure.notAResponse("tagged line without OK, NO or BAD")
        }
        var resp = Response(kind: .tagged(tag: first, status: status))
        respText(&reader, into: &resp, line: line)
        return resp
    }

    static func untagged(
        _ reader: inout SyntaxReader, line: RawLine, bodies: BodyMode, generalOnly: Bool = false
    ) throws -> Response {
        guard let word = reader.wordText() else { throw Failure.notAResponse("'*' without a response") }
        let up = word.uppercased()
        // resp-cond-state / resp-cond-bye / resp-cond-auth
        if isStatus(up) {
            var resp = Response(kind: .status(up))
            respText(&reader, into: &resp, line: line)
            return resp
        }
        // message-data = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att)) ; mailbox-data =/ number SP ("EXISTS" / "RECENT")
        if let number = UInt64(word) {
            guard reader.space(), let name = reader.wordText()?.uppercased() else {
                throw Failure.notAResponse("number without a response name")
            }
            var resp = Response(kind: .data(name: name, number: number))
            if name == "FETCH", !generalOnly, line.segments.count == 1, reader.position.segment == 0,
                reader.peekByte() == UInt8(ascii: " "),
                let attributes = SimpleResponses.fetchAttributes(
                    line.segments[0].text, from: reader.position.offset + 1)
            {
                resp.details.setFetchAttributes(attributes)
                return resp
            }
            if !reader.atEnd, reader.space() || reader.peekByte() == nil {
                do { resp.arguments = try reader.nodes() } catch { resp.problems.append("\(error)") }
            }
            ResponseGrammar.decode(&resp, line: line, bodies: bodies)
            return resp
        }
        var resp = Response(kind: .data(name: up, number: nil))
        if up == "SEARCH" || up == "SORT", !generalOnly, line.segments.count == 1, reader.position.segment == 0,
            let numbers = SimpleResponses.searchResults(line.segments[0].text, from: reader.position.offset)
        {
            resp.details.setCount(Int64(numbers.count), numbers: numbers)
            return resp
        }
        if !reader.atEnd {
            reader.space()
            do { resp.arguments = try reader.nodes() } catch { resp.problems.append("\(error)") }
        }
        ResponseGrammar.decode(&resp, line: line, bodies: bodies)
        return resp
    }

    // resp-text = ["[" resp-text-code "]" SP] [text]
    static func respText(_ reader: inout SyntaxReader, into resp: inout Response, line: RawLine) {
        reader.space()
        if reader.peekByte() == UInt8(ascii: "[") {
            let full = line.segments[0].text
            // The code ends at the first ']' outside a quoted string.
            let start = reader.position.offset + 1
            var codeEnd = start
            var inQuote = false
            while codeEnd < full.count {
                let byte = full[codeEnd]
                if inQuote && byte == UInt8(ascii: "\\") {
                    codeEnd += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inQuote.toggle() }
                if !inQuote && byte == UInt8(ascii: "]") { break }
                codeEnd += 1
            }
            if codeEnd < full.count, reader.position.segment == 0 {
                let codeText = String(decoding: full[start..<codeEnd], as: UTF8.self)
                let codeLine = RawLine(segments: [
                    LineSegment(text: Array(full[start..<codeEnd]), ending: .none, literal: nil)
                ])
                var codeReader = SyntaxReader(codeLine)
                let name = codeReader.word()?.atom?.uppercased() ?? ""
                var args: [Node] = []
                if codeReader.space() {
                    do { args = try codeReader.nodes() } catch { resp.problems.append("in [\(name)]: \(error)") }
                }
                resp.code = ResponseCode(name: name, arguments: args.map { rebase($0, by: start) }, text: codeText)
                var rest = Array(full[(codeEnd + 1)...])
                if rest.first == 0x20 { rest.removeFirst() }
                resp.text = String(decoding: rest, as: UTF8.self)
                return
            }
            resp.problems.append("unclosed '[' in response code")
        }
        resp.text = String(decoding: reader.rest(), as: UTF8.self)
    }

    /// Moves a node parsed from a sub-line back to its position in segment 0.
    static func rebase(_ node: Node, by offset: Int) -> Node {
        var moved = node
        moved.span.start += offset
        moved.span.end += offset
        if case .list(let items) = node.syntax { moved.syntax = .list(items.map { rebase($0, by: offset) }) }
        return moved
    }
}
