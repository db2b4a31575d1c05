"""Photo collections: an index of fingerprints, duplicate groups, actions on the duplicates, reports.

Modules (one job each):

- ``report``: the answer's data model (:class:`DuplicateReport`, :class:`Group`, :class:`Member`).
- ``pdq``: Meta's PDQ hash (bit-compatible with the reference) and its 8 dihedral forms.
- ``fingerprint``: what is measured once per file (hashes of bytes and pixels, PDQ, local features).
- ``index``: the SQLite index of fingerprints (schema versions, incremental refresh, pruning).
- ``candidates``: candidate pairs from the index (hash distances, feature votes).
- ``verify``: compare's verdict on a candidate pair, as a relation to the kept file.
- ``dupes``: :func:`find_duplicates`, the whole job.
- ``actions``: move / trash / hardlink / symlink / delete with a JSON-lines log, and undo.
- ``html``: the self-contained HTML report page.
"""
