"""The station pages: what the staff at each desk see, in Japanese, live in a browser (server.py serves them
from tagd's own loop; view.py is one station's state; page.py the HTML; static/ the script and styles)."""
