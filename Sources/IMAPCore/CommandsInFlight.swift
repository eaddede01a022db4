/// A command sent and not yet completed.
struct CommandInFlight {
    var name: CommandName
    var uid: Bool
    var time: Timestamp
    /// The mailbox a SELECT/EXAMINE/STATUS… names, for its completion's annotation.
    var mailbox: String?
}

/// Commands awaiting completion by tag; a reused tag queues behind the first (completed in order).
struct CommandsInFlight {
    private var byTag: [String: [CommandInFlight]] = [:]
    /// How many commands of each name are in flight, by `CommandName.index`: the per-response
    /// "who asked?" check must not walk the table (pipelining clients keep hundreds in flight).
    private var runningCounts = [Int](repeating: 0, count: CommandName.indexCount)

    var isEmpty: Bool { byTag.isEmpty }
    func contains(_ tag: String) -> Bool { byTag[tag] != nil }
    func first(_ tag: String) -> CommandInFlight? { byTag[tag]?.first }
    /// Whether a command of this name is in flight (every `other` name counts as one).
    func running(_ name: CommandName) -> Bool { runningCounts[name.index] > 0 }

    mutating func add(_ tag: String, _ command: CommandInFlight) {
        byTag[tag, default: []].append(command)
        runningCounts[command.name.index] += 1
    }

    mutating func complete(_ tag: String) -> CommandInFlight? {
        guard var queue = byTag[tag], !queue.isEmpty else { return nil }
        let command = queue.removeFirst()
        byTag[tag] = queue.isEmpty ? nil : queue
        runningCounts[command.name.index] -= 1
        return command
    }

    /// Every command in flight, oldest first.
    var all: [(tag: String, command: CommandInFlight)] {
        byTag.flatMap { tag, queue in queue.map { (tag: tag, command: $0) } }
            .sorted { $0.command.time < $1.command.time }
    }
}
