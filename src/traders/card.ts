// Card numbers: validated with the Luhn check, stored as digits, shown in full only to the
// trader who owns the card and to the customer of that card's open deal; masked elsewhere.

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** "4149499912341234" → "4149 **** **** 1234". */
export function maskCard(digits: string): string {
  return `${digits.slice(0, 4)} **** **** ${digits.slice(-4)}`;
}

/** "4149499912341234" → "4149 4999 1234 1234", for reading aloud and copying by eye. */
export function groupCard(digits: string): string {
  return digits.replace(/(\d{4})(?=\d)/g, '$1 ');
}
