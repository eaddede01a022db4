/// A command sent and not yet completed.
struct CommandInFlight {
    var name: String
    var uid: Bool
    var time: Timestamp
    /// The mailbox a SELECT/EXAMINE/STATUS… names, for its completion's annotation.
    var mailbox: String?
}

/// Commands awaiting completion by tag; a reused tag queues behind the first (completed in order).
struct CommandsInFlight {
    private var byTag: [String: [CommandInFlight]] = [:]
    /// How many commands of each name are in flight: the per-response "who asked?" check
    /// must not walk the table (pipelining clients keep hundreds in flight).
    private(set) var names: [String: Int] = [:]

    var isEmpty: Bool { byTag.isEmpty }
    func contains(_ tag: String) -> Bool { byTag[tag] != nil }
    func first(_ tag: String) -> CommandInFlight? { byTag[tag]?.first }
    func running(_ name: String) -> Bool { names[name, default: 0] > 0 }

    mutating func add(_ tag: String, _ command: CommandInFlight) {
        byTag[tag, default: []].append(command)
        names[command.name, default: 0] += 1
    }

    mutating func complete(_ tag: String) -> CommandInFlight? {
        guard var queue = byTag[tag], !queue.isEmpty else { return nil }
        let command = queue.removeFirst()
        byTag[tag] = queue.isEmpty ? nil : queue
        if let running = names[command.name], running > 1 {
            names[command.name] = running - 1
        } else {
            names[command.name] = nil
        }
        return command
    }

    /// Every command in flight, oldest first.
    var all: [(tag: String, command: CommandInFlight)] {
        byTag.flatMap { tag, queue in queue.map { (tag: tag, command: $0) } }
            .sorted { $0.command.time < $1.command.time }
    }
}
