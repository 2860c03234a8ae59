"""
Provider access (DESIGN.md §1 use case 2): Da Vinci ATR attribution lists and PDex Provider
Access downloads (spec/bulk-data-and-attribution.md §6-§7).

- `providers`: who a token speaks for (a provider user's organization, or the organization a
  system client is tied to) and which lists that organization holds.
- `access`: the provider policy plugged into sandbox.fhirstore.access (what a provider may
  read, search and export) and the run-time opt-out filter of the bulk engine.
- `optout`: members who opted out of provider access (PDex Consent, member opt-out Group).
- `lists`: the ATR reconciliation operations and list versions (`_since` changes).
- `exports`: Group/[id]/$export and $davinci-data-export kick-offs for providers.
"""
