from daemon.main import main

main()
