import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'

export interface Argon2Parameters {
  /** KiB */
  memoryCost: number
  timeCost: number
  parallelism: number
}

export interface PasswordVerdict {
  valid: boolean
  /** The hash was made with weaker parameters than today's: store a new one. */
  needsRehash: boolean
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>

/**
 * True when a stored hash is not argon2id or has a lower cost than the
 * configured one. (argon2.needsRehash also flags stronger hashes, and a
 * stronger hash is no reason to write a weaker one.)
 */
export function isWeakerThan (hash: string, wanted: Argon2Parameters): boolean {
  // PHC string: $argon2id$v=19$m=19456,t=2,p=1$salt$hash (parameter order varies)
  const [, algorithm, , parameterList = ''] = hash.split('$')
  const stored = new Map(parameterList.split(',').map((pair) => {
    const [key = '', value = ''] = pair.split('=')
    return [key, Number(value)] as const
  }))
  const below = (key: string, minimum: number) => !((stored.get(key) ?? 0) >= minimum)
  return algorithm !== 'argon2id' || below('m', wanted.memoryCost) || below('t', wanted.timeCost) || below('p', wanted.parallelism)
}

/** argon2id hashing with configured costs; the only place a plain password is touched. */
export function createPasswordHasher (parameters: Argon2Parameters) {
  const options = { type: argon2.argon2id, ...parameters } as const
  // Unknown emails are checked against this, so a login costs the same whether or not the account exists.
  let dummyHash: Promise<string> | undefined

  return {
    hash (password: string): Promise<string> {
      return argon2.hash(password, options)
    },

    async verify (hash: string, password: string): Promise<PasswordVerdict> {
      const valid = await argon2.verify(hash, password).catch(() => false)
      return { valid, needsRehash: valid && isWeakerThan(hash, parameters) }
    },

    /** Spends a real verification on nothing, for a login whose email matched no account. */
    async verifyNothing (password: string): Promise<void> {
      dummyHash ??= argon2.hash(randomBytes(32).toString('base64url'), options)
      await argon2.verify(await dummyHash, password).catch(() => false)
    }
  }
}
