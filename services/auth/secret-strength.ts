/** Bits a secret must be estimated to have before production accepts it. */
export const MIN_SECRET_BITS = 128

// Beyond this the walk stops refining: the threshold is far below, and a long secret need not cost O(n²).
const ENOUGH_BITS = 512
const MIN_REPEAT = 3

const CHARACTER_CLASSES: { size: number; test: (character: string) => boolean }[] = [
  { size: 26, test: (character) => character >= 'a' && character <= 'z' },
  { size: 26, test: (character) => character >= 'A' && character <= 'Z' },
  { size: 10, test: (character) => character >= '0' && character <= '9' },
  // Punctuation, spaces and anything beyond ASCII: counted as printable ASCII's 33 others, conservatively.
  { size: 33, test: (character) => !/^[a-zA-Z0-9]$/.test(character) }
]

/** log2 of the alphabet the secret draws from: the sizes of the character classes it uses, added. */
function bitsPerCharacter (characters: string[]): number {
  const pool = CHARACTER_CLASSES
    .filter((characterClass) => characters.some(characterClass.test))
    .reduce((sum, characterClass) => sum + characterClass.size, 0)
  return Math.log2(Math.max(pool, 2))
}

/** Length × the Shannon entropy of the character frequencies: few distinct characters, few bits. */
function frequencyBits (characters: string[]): number {
  const counts = new Map<string, number>()
  for (const character of characters) counts.set(character, (counts.get(character) ?? 0) + 1)
  let perCharacter = 0
  for (const count of counts.values()) {
    const p = count / characters.length
    perCharacter -= p * Math.log2(p)
  }
  return perCharacter * characters.length
}

/** The longest stretch starting at `at` that also starts earlier (it may overlap, as in "aaaa"). */
function longestRepeat (characters: string[], at: number): number {
  let best = 0
  for (let from = 0; from < at; from++) {
    let length = 0
    while (at + length < characters.length && characters[from + length] === characters[at + length]) length++
    best = Math.max(best, length)
  }
  return best
}

/** How far a run or sequence (aaaa, abcd, 9876) continues at `at`, given the two characters before it. */
function sequenceLength (codes: number[], at: number): number {
  if (at < 2) return 0
  const step = (codes[at - 1] ?? 0) - (codes[at - 2] ?? 0)
  if (Math.abs(step) > 1) return 0
  let length = 0
  while (at + length < codes.length && (codes[at + length] ?? 0) - (codes[at + length - 1] ?? 0) === step) length++
  return length
}

/**
 * An estimate of the bits of entropy in a secret, from the secret alone.
 *
 * A generated secret (`openssl rand -base64 48`) is characters drawn at random;
 * a made-up one repeats itself, runs on (aaaa, 1234) or uses few characters.
 * Read left to right, each character costs log2 of the alphabet the secret
 * draws from (lowercase 26, uppercase 26, digits 10, anything else 33, for each
 * class present), except that a stretch repeating an earlier one (3+
 * characters) or continuing a run or a sequence costs only the bits that say
 * where it comes from and how long it is. The total is capped at the length
 * times the Shannon entropy of the character frequencies.
 *
 * It cannot recognise words: a long phrase a person made up may pass and still
 * be guessable. Generate secrets; this catches the ones that were not.
 */
export function estimateSecretBits (secret: string): number {
  const characters = Array.from(secret)
  const codes = characters.map((character) => character.codePointAt(0) ?? 0)
  const literalBits = bitsPerCharacter(characters)
  let bits = 0
  let at = 0
  while (at < characters.length && bits < ENOUGH_BITS) {
    const repeat = longestRepeat(characters, at)
    const sequence = sequenceLength(codes, at)
    if (repeat >= MIN_REPEAT && repeat >= sequence) {
      bits += Math.log2(at) + Math.log2(repeat)
      at += repeat
    } else if (sequence >= 1) {
      bits += 1 + Math.log2(sequence + 1)
      at += sequence
    } else {
      bits += literalBits
      at += 1
    }
  }
  return Math.min(bits, frequencyBits(characters))
}
