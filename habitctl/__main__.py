from habitctl.cli.app import main

main()
