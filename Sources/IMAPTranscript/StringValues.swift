/// A command line's strings by value, for `diff`: an atom, a quoted string and a literal that
/// hold the same characters are the same astring (RFC 9051 §4.3), so `SELECT INBOX`,
/// `SELECT "INBOX"` and `SELECT {5}` + `INBOX` all read `SELECT INBOX`. Each quoted string and
/// each shown literal becomes the atom when its value is a valid atom, else one canonical quoted
/// form; everything else on the line is left as it is. A literal shown only as a size
/// (`{342} ‹342 bytes, header›`) or redacted keeps its marker alone.
enum StringValues {
    static func canonical(_ line: String) -> String {
        let chars = Array(line)
        var out = ""
        var index = 0
        while index < chars.count {
            let character = chars[index]
            if character == "\"", let (value, next) = quoted(chars, from: index) {
                out += form(value)
                index = next
            } else if character == "{", isTokenStart(chars, index), let (shown, next) = literal(chars, from: index) {
                out += shown
                index = next
            } else {
                out.append(character)
                index += 1
            }
        }
        return out
    }

    /// A quoted string's value and the index after its closing quote; nil when it does not close.
    private static func quoted(_ chars: [Character], from start: Int) -> (String, Int)? {
        var value = ""
        var index = start + 1
        while index < chars.count {
            let character = chars[index]
            if character == "\\", index + 1 < chars.count {
                value.append(chars[index + 1])
                index += 2
                continue
            }
            if character == "\"" { return (value, index + 1) }
            value.append(character)
            index += 1
        }
        return nil
    }

    /// `{n} ‹text›` (also `{n+}`, `{n-}`, `~{n}`'s brace): the value form of text shown whole, the
    /// marker alone for a summary or a redaction; nil when the brace is not a literal's.
    private static func literal(_ chars: [Character], from start: Int) -> (String, Int)? {
        var index = start + 1
        var digits = 0
        while index < chars.count, chars[index].isASCII, chars[index].isNumber {
            index += 1
            digits += 1
        }
        if index < chars.count, chars[index] == "+" || chars[index] == "-" { index += 1 }
        guard digits > 0, index + 2 < chars.count, chars[index] == "}", chars[index + 1] == " ",
            chars[index + 2] == "‹", let close = chars[(index + 3)...].firstIndex(of: "›")
        else { return nil }
        let shown = String(chars[(index + 3)..<close])
        let size = Int(String(chars[(start + 1)..<(start + 1 + digits)])) ?? -1
        let marker = "‹" + shown + "›"
        if shown.hasPrefix("redacted") || shown.hasPrefix("\(size) bytes") || shown.utf8.count != size {
            return (marker, close + 1)
        }
        return (form(shown), close + 1)
    }

    /// A `{` that starts an argument (after a space or a parenthesis), not one inside an atom.
    private static func isTokenStart(_ chars: [Character], _ index: Int) -> Bool {
        index == 0 || chars[index - 1] == " " || chars[index - 1] == "(" || chars[index - 1] == "~"
    }

    /// The atom when `value` is one (or a list wildcard pattern), else the quoted string with `\`
    /// and `"` escaped.
    static func form(_ value: String) -> String {
        if !value.isEmpty, value.unicodeScalars.allSatisfy(isAstringChar) { return value }
        var out = "\""
        for c in value {
            if c == "\\" || c == "\"" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    /// ASTRING-CHAR: ATOM-CHAR or `]` (RFC 9051 §9), and the list wildcards `%` and `*` (a LIST
    /// pattern's `*` and `"*"` are the same); no space, control, `(){"\` or 8-bit.
    private static func isAstringChar(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value > 0x20, scalar.value < 0x7F else { return false }
        return !"(){\"\\".unicodeScalars.contains(scalar)
    }
}
