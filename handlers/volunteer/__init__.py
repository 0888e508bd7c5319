"""The volunteer's side of Muster: every text a volunteer sends (see `receive`)."""
