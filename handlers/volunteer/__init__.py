"""The volunteer's side of Muster: every text a volunteer sends.

- `receive`: where texts come in, one at a time or in a batch (and the batch path's speed);
- `dispatch`: which answer a text gets (consent first, onboarding, then the keyword table);
- `turn`: the `Turn` a keyword's function is given (the text, the volunteer, what it leaves);
- one module per family of answers: `consent` (HELP, STOP, START/JOIN, strangers), `onboarding`
  (name, ZIP, interests), `profile` (NAME, ZIP), `shift_keywords` (SHIFTS, YES N, DROP N, MY,
  C), `calls_to_action` (a bare YES/NO) and `inbox` (free text for the organizers).
"""
