from mamori.cli.app import main

main()
