import IMAPCore

/// Schema v1 JSON Lines: one compact object per line.
public final class JSONLinesWriter: EventSink {
    private let out: ByteOutput
    private var buffer: [UInt8] = []

    public init(_ out: ByteOutput) { self.out = out }

    public func write(_ event: Event) {
        event.encode(to: &buffer)
        buffer.append(0x0A)
        if buffer.count >= 64 * 1024 { out.write(buffer); buffer.removeAll(keepingCapacity: true) }
    }

    public func finish() {
        out.write(buffer)
        buffer.removeAll()
        out.flush()
    }
}

/// Reads schema v1 JSON Lines back into events; a bad line is an error naming its number.
public enum JSONLinesReader {
    public struct Failure: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func read(_ bytes: [UInt8]) throws -> [Event] {
        var events: [Event] = []
        var n = 0
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            n += 1
            let line = raw.last == 0x0D ? raw.dropLast() : raw[...]
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                events.append(try Event(json: try JSONParser.parse(Array(line))))
            } catch {
                throw Failure(line: n, message: "\(error)")
            }
        }
        return events
    }
}
