from services.local.control_plane.server import main

raise SystemExit(main())
